"""Training: the one config (config.py), the loop (train.py), its recipes and augmentation, the run
folders it writes (runs.py), and the studio's training jobs (jobs.py, job_process.py, job_messages.py)."""
