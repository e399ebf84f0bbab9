"""The `mnistlab` command line: typer wiring only; each command calls the package's functions."""

from __future__ import annotations

import functools
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional


def _interrupted_at_start() -> None:
    """Ctrl+C before any command ran (torch takes a second or two to import): one line, exit 130."""
    sys.stderr.write("mnistlab: interrupted before starting; nothing was done\n")
    raise SystemExit(130)


try:
    import typer
    from typer.core import TyperGroup

    from mnistlab.errors import MnistlabError
    from mnistlab.nets.models import MODELS
    from mnistlab.training.config import ConfigError
    from mnistlab.training.recipes import RECIPES
except KeyboardInterrupt:
    _interrupted_at_start()

# Exit codes (docs/cli.md): 0 done; 1 a problem with the input or the files (the message says how to fix
# it); 2 a mistyped command line (unknown option, bad value); 130 stopped with Ctrl+C.
USAGE_ERROR = 2


def click_exceptions():
    """The module of the click exceptions typer raises: typer's own copy of click (typer 0.2x vendors
    it, privately), else click itself (older typer). NoArgsIsHelpError needs click 8.2 or later."""
    try:
        from typer._click import exceptions
    except ImportError:
        from click import exceptions
    return exceptions


class OneErrorStyle(TyperGroup):
    """Command-line mistakes (click's usage errors) in mnistlab's own style: one line starting with
    `mnistlab: error:` and saying where the help is, exit code 2."""

    def format_commands(self, ctx, formatter):
        """The command list with each command's first sentence whole (click cuts it with "...")."""
        commands = [(name, self.get_command(ctx, name)) for name in self.list_commands(ctx)]
        rows = [(name, command.get_short_help_str(limit=1000)) for name, command in commands
                if command is not None and not command.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        errors = click_exceptions()
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except getattr(errors, "NoArgsIsHelpError", ()) as err:
            err.show()  # `mnistlab` alone: the help
            sys.exit(err.exit_code)
        except errors.UsageError as err:
            words = err.ctx.command_path.split()[1:] if err.ctx else []
            message = " ".join(err.format_message().replace("Value error, ", "").split()).rstrip(".")
            typer.echo(f"mnistlab: error: {message[:1].lower()}{message[1:]}; "
                       f"`{' '.join(['mnistlab', *words, '-h'])}` lists what it takes", err=True)
            sys.exit(USAGE_ERROR)
        except errors.ClickException as err:
            typer.echo(f"mnistlab: error: {err.format_message()}", err=True)
            sys.exit(err.exit_code)
        except typer.Abort:
            typer.echo("mnistlab: aborted", err=True)
            sys.exit(1)
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


app = typer.Typer(
    cls=OneErrorStyle,
    help="mnistlab: train, evaluate and explore the classic MNIST networks (an MLP and a LeNet-5-style CNN).",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click errors: a usage line and one "Error:" line, no boxes
    context_settings={"help_option_names": ["-h", "--help"]},
)

ModelName = Enum("ModelName", {name: name for name in MODELS}, type=str)
RecipeName = Enum("RecipeName", {name: name for name in RECIPES}, type=str)

DataDir = Annotated[Optional[Path], typer.Option(
    help="Folder holding MNIST/raw/ (default: $MNISTLAB_DATA_DIR, else ./data).", show_default=False)]
Device = Annotated[str, typer.Option(help="auto (cuda, then mps, then cpu), cpu, cuda or mps.")]
Seed = Annotated[int, typer.Option(help="Random seed, set with torch.manual_seed before building the model.")]
MaxSteps = Annotated[Optional[int], typer.Option(
    help="Stop after this many training steps, for a quick try (default: train every epoch).",
    show_default=False)]
Lang = Annotated[Optional[str], typer.Option(
    help="Language of the report, tables and figures: en or es (default: the locale's, from LC_ALL, LC_MESSAGES, LANG "
         "or LANGUAGE; es* gives Spanish).", show_default=False)]
Recipe = Annotated[RecipeName, typer.Option(
    help="practice: the lab's plain SGD, bit-faithful to its notebook; tuned: the same networks trained better.",
    case_sensitive=False)]


INTERRUPTED_TRAINING = "interrupted; run folders are as they were before (an unfinished run is never kept)"


def command(*args, interrupted: str = "interrupted", **kwargs):
    """app.command() that turns a MnistlabError into one line on stderr and exit code 1, and Ctrl+C
    into the line `interrupted` (what the command leaves behind) and exit code 130."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*a, **kw):
            try:
                return fn(*a, **kw)
            except ConfigError as err:  # a setting: named as the flag that gave it
                typer.echo(f"mnistlab: error: {err.as_flag()}", err=True)
                raise typer.Exit(1) from None
            except MnistlabError as err:
                typer.echo(f"mnistlab: error: {err}", err=True)
                raise typer.Exit(1) from None
            except KeyboardInterrupt:
                typer.echo(f"mnistlab: {interrupted}", err=True)
                raise typer.Exit(130) from None

        return app.command(*args, **kwargs)(wrapper)

    return decorate


@command(short_help='Check MNIST on disk (md5), fetching it if missing.')
def data(
    data_dir: DataDir = None,
    repair: Annotated[bool, typer.Option(help="Replace damaged files with a fresh verified copy.")] = False,
):
    """Make sure MNIST is on disk and byte-exact (md5 of each file); fetch it if missing."""
    from mnistlab.data import ensure_mnist, raw_dir

    status = ensure_mnist(data_dir, repair=repair, quiet=False)
    typer.echo(f"MNIST ready in {raw_dir(status.root)} (source: {status.describe()})")
    for name, md5 in status.files.items():
        typer.echo(f"  {name:<26} md5 {md5}  ok")


@command(interrupted=INTERRUPTED_TRAINING, short_help='Train one network into a run folder.')
def train(
    model: Annotated[ModelName, typer.Argument(help="Which network to train: mlp, cnn or mlp-small (the CNN-sized MLP; any case).", case_sensitive=False, metavar="MODEL")],
    recipe: Recipe = RecipeName.practice,
    epochs: Annotated[Optional[int], typer.Option(help="Passes over the training set (default: the recipe's; practice: 10).", show_default=False)] = None,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate (default: the recipe's; practice: 0.01).", show_default=False)] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Images per step (default: the recipe's; practice: 64).", show_default=False)] = None,
    seed: Seed = 0,
    device: Device = "auto",
    max_steps: MaxSteps = None,
    permute_pixels: Annotated[bool, typer.Option("--permute-pixels", help="Train and test on images whose 784 pixels are shuffled by one fixed permutation (torch.Generator seeded 0), recorded in config.json (default: off).")] = False,
    out: Annotated[Optional[Path], typer.Option(help="Run folder (default: runs/<model>-<recipe>-seed<seed>, with -permuted after it for --permute-pixels).", show_default=False)] = None,
    data_dir: DataDir = None,
    lang: Lang = None,
):
    """Train one network and write its run folder (weights, loss history, metrics, loss figure)."""
    from mnistlab.i18n import check_lang
    from mnistlab.training.runs import run_dir_name
    from mnistlab.training.train import TrainConfig, train_run

    config = TrainConfig(model=model.value, recipe=recipe.value, epochs=epochs, lr=lr, batch_size=batch_size,
                         seed=seed, device=device, max_steps=max_steps, permute_pixels=permute_pixels)
    out = out or Path("runs") / run_dir_name(config.model, config.recipe, config.seed, config.permute_pixels)
    run = train_run(config, out, data_dir, lang=check_lang(lang) if lang else None)
    typer.echo(f"run folder: {run.path}")


@command(short_help='Test accuracy of a run folder or a .pth file.')
def evaluate(
    path: Annotated[Path, typer.Argument(help="A run folder, or a .pth state_dict (the practice's own too).")],
    model: Annotated[Optional[ModelName], typer.Option(help="Architecture of a bare .pth (default: recognised from its keys).", show_default=False, case_sensitive=False)] = None,
    device: Device = "auto",
    data_dir: DataDir = None,
):
    """Overall and per-digit test accuracy of saved weights (a --permute-pixels run's on permuted images)."""
    from mnistlab import data as mnist
    from mnistlab.inference.evaluate import evaluate as score
    from mnistlab.nets.models import load_weights
    from mnistlab.training.runs import WEIGHTS, load_run
    from mnistlab.training.train import resolve_device

    if not path.exists():
        raise MnistlabError(missing_path(path))
    weights = path / WEIGHTS if path.is_dir() else path
    permuted = load_run(path).permuted if path.is_dir() else False  # a bare .pth records nothing
    name, network = load_weights(weights, model.value if model else None)
    where = resolve_device(device)
    images, labels = mnist.load_split(data_dir, "test", where)
    result = score(network, mnist.network_input(images, permuted), labels, where)
    shown = f"{MODELS[name].display_name}{', pixels permuted' if permuted else ''}"
    typer.echo(f"{shown} ({weights}): overall accuracy {result.overall_accuracy:.4f}")
    for digit, accuracy in enumerate(result.per_digit_accuracy):
        typer.echo(f"  digit {digit}: {accuracy:.4f}")


@command(interrupted=INTERRUPTED_TRAINING, short_help='The whole lesson: data, both trainings, results, report.')
def run(
    recipe: Recipe = RecipeName.practice,
    seed: Annotated[int, typer.Option(help="Random seed of the first run (torch.manual_seed before building the model).")] = 0,
    seeds: Annotated[int, typer.Option(help="Train each network with this many seeds (--seed, --seed + 1, ...); the report shows mean ± std.")] = 1,
    device: Device = "auto",
    max_steps: MaxSteps = None,
    runs_dir: Annotated[Path, typer.Option("--runs-dir", "--runs", help="Where run folders go.")] = Path("runs"),
    report_dir: Annotated[Optional[Path], typer.Option("--report-dir", help="Where the report goes (default: report/ beside the runs folder).", show_default=False)] = None,
    data_dir: DataDir = None,
    lang: Lang = None,
    experiments: Annotated[bool, typer.Option("--experiments", help="Also train the pixel-permuted MLP and CNN and the same-budget MLP (mlp-small), same recipe and seeds, for the report's \"Why the CNN wins\" (default: off).")] = False,
):
    """The whole lesson: get MNIST, train both networks, evaluate them, print the results, write the report."""
    from mnistlab.lesson import run_lesson

    run_lesson(recipe.value, seed, seeds, device, max_steps, runs_dir, report_dir, data_dir, log=typer.echo, lang=lang,
               experiments=experiments)


RunsDir = Annotated[Path, typer.Option("--runs", "--runs-dir", help="Folder of run folders; the latest mlp and cnn runs are used.")]
MlpFile = Annotated[Optional[Path], typer.Option("--mlp", help="The MultiLayerNN's weights: a .pth state_dict such as the practice's multinn.pth (default: the latest mlp run).", show_default=False)]
CnnFile = Annotated[Optional[Path], typer.Option("--cnn", help="The CNN's weights: a .pth state_dict such as the practice's cnn.pth (default: the latest cnn run).", show_default=False)]
PredictModel = Enum("PredictModel", {**{name: name for name in MODELS}, "both": "both"}, type=str)
Permuted = Annotated[bool, typer.Option("--permuted", help="Use the latest --permute-pixels runs instead (default: the others).")]


@command(interrupted="stopped serving", short_help='Open the studio: draw digits, look inside, train.')
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on; 127.0.0.1 keeps the app on this machine.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8000,
    runs: RunsDir = Path("runs"),
    allow_training: Annotated[bool, typer.Option("--allow-training", help="Let the page train networks even when --host is not a loopback address (default: only on loopback).")] = False,
    lang: Annotated[Optional[str], typer.Option(help="The page's language when the browser states none: es or en (default: the locale's).", show_default=False)] = None,
    data_dir: DataDir = None,
    mlp: MlpFile = None,
    cnn: CnnFile = None,
):
    """Start the studio: draw a digit, see inside both networks, train them from the page."""
    from mnistlab.i18n import resolve_lang
    from mnistlab.web.app import create_app
    from mnistlab.web.server import bind, serve_forever, url_of

    sock = bind(host, port)  # a bad or busy port is said before the networks load
    app = create_app(runs_dir=runs, allow_training=allow_training or is_loopback(sock.getsockname()[0]),
                     lang=resolve_lang(lang), data_dir=data_dir, files={"mlp": mlp, "cnn": cnn})
    for message in app.state.networks.missing:
        typer.echo(f"mnistlab: note: {message}; serving the other network", err=True)
    typer.echo(f"mnistlab is serving the drawing page at {url_of(sock)}  (Ctrl+C stops it)")
    serve_forever(app, sock)


def missing_path(path: Path) -> str:
    """`path` does not exist: say so, and name the nearest existing names beside it (a typo)."""
    import difflib

    parent = path.parent if path.parent.is_dir() else None
    near = difflib.get_close_matches(path.name, [p.name for p in parent.iterdir()], n=2, cutoff=0.6) if parent else []
    hint = f"; did you mean {' or '.join(str(parent / n) for n in near)}?" if near else \
        "; check the path (a run folder under runs/, or a .pth file)"
    return f"{path}: no such file or folder{hint}"


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only: localhost in any case, 127.0.0.0/8 (written as bind()
    takes it, 127.1 included) or ::1."""
    import ipaddress
    import socket

    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:  # inet_aton reads the short forms that bind() accepts too: 127.1, 0x7f.1, 2130706433
        return ipaddress.IPv4Address(socket.inet_aton(name)).is_loopback
    except OSError:
        return False


@command(short_help='Predict the digit in image files.')
def predict(
    images: Annotated[list[Path], typer.Argument(help="PNG or JPEG files, one digit each.", metavar="IMAGE",
                                                 show_default=False)],
    model: Annotated[PredictModel, typer.Option(help="Which network answers.", case_sensitive=False)] = PredictModel.both,
    runs: RunsDir = Path("runs"),
    permuted: Permuted = False,
    mlp: MlpFile = None,
    cnn: CnnFile = None,
):
    """Predict the digit in image files, preprocessed the MNIST way as on the drawing page."""
    from mnistlab.inference.predict import load_networks, predict_files

    names = None if model.value == "both" else (model.value,)
    networks = load_networks(runs, names, {"mlp": mlp, "cnn": cnn}, permuted=permuted)
    for message in networks.missing:
        typer.echo(f"mnistlab: note: {message}", err=True)
    typer.echo(predict_files(images, networks))


@command(interrupted="interrupted; the report folder was left as it was", short_help='Build the analysis report (HTML + Markdown).')
def report(
    run_dirs: Annotated[Optional[list[Path]], typer.Argument(metavar="RUN_DIR", help="Run folders to report on (default: the latest mlp and cnn runs in --runs-dir, with their other seeds).", show_default=False)] = None,
    out: Annotated[Path, typer.Option(help="Folder for index.html, report.md and the figures; replaced whole.")] = Path("report"),
    runs_dir: Annotated[Path, typer.Option("--runs-dir", "--runs", help="Where to look for runs when no RUN_DIR is given.")] = Path("runs"),
    data_dir: DataDir = None,
    lang: Lang = None,
    mlp: MlpFile = None,
    cnn: CnnFile = None,
):
    """Build the analysis report (HTML + Markdown) comparing the MLP and the CNN from saved runs or the practice's .pth files."""
    from mnistlab.report import build_report

    typer.echo(f"report: {build_report(run_dirs or [], out, runs_dir, data_dir, lang, pth_files={'mlp': mlp, 'cnn': cnn})}")


@command()
def robustness(
    run_dirs: Annotated[list[Path], typer.Argument(metavar="RUN_DIR", help="Run folders to test.", show_default=False)],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of the table (default: the table).")] = False,
    scale: Annotated[bool, typer.Option("--scale", help="Also test digits scaled ×0.6 to ×1.4 (default: off).")] = False,
    noise: Annotated[bool, typer.Option("--noise", help="Also test digits with Gaussian noise, σ 0.1 to 0.5 (default: off).")] = False,
    device: Device = "auto",
    data_dir: DataDir = None,
):
    """Test accuracy on test digits moved 0-8 px (mean of the four directions) and rotated 0-60° (both directions)."""
    import json

    from tqdm import tqdm

    from mnistlab import data as mnist, robustness as lab
    from mnistlab.training.runs import load_run
    from mnistlab.training.train import resolve_device

    found = [load_run(path) for path in run_dirs]  # every folder checked before the work starts
    where = resolve_device(device)
    images, labels = mnist.load_split(data_dir, "test", where)
    levels = {"scales": lab.SCALES if scale else None, "noises": lab.NOISES if noise else None}
    results = []
    for run in found:
        with tqdm(desc=run.path.name, unit="pass", leave=False, disable=None) as bar:
            def told(done, total, bar=bar):
                bar.total, bar.n = total, done
                bar.refresh()
            results.append(lab.measure_run(run, images, labels, where, on_level=told, **levels))
    if json_output:
        typer.echo(json.dumps({"runs": [r.as_json() for r in results]}, indent=1))
    else:
        typer.echo(lab.robustness_table(results))


@command(short_help="Per-layer table of a network, like torchinfo's.")
def summary(model: Annotated[ModelName, typer.Argument(help="Which network to describe: mlp, cnn or mlp-small (any case).", case_sensitive=False, metavar="MODEL")], lang: Lang = None):
    """Per-layer table of a network: layer, type, output shape and parameters, like torchinfo's summary."""
    from mnistlab.lesson.tables import summary_table

    typer.echo(summary_table(model.value, lang))


@command()
def check(
    files: Annotated[list[Path], typer.Argument(metavar="NOTEBOOK.ipynb | MULTINN.pth CNN.pth",
                                                help="A practice notebook, or the two weights files it saves.",
                                                show_default=False)],
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON (submission, status, points, max_points, items).")] = False,
    lang: Annotated[Optional[str], typer.Option(help="Language of the messages: en or es (default: the locale's).", show_default=False)] = None,
    full: Annotated[bool, typer.Option("--full", help="Also run the notebook unmodified (full training: minutes) and measure the networks it trains (default: training cells on a small subset only).")] = False,
    data_dir: DataDir = None,
    timeout: Annotated[float, typer.Option(help="Seconds the notebook may run in the sandbox.")] = 180,
):
    """Check a practice notebook item by item (architecture, forward, training loop, saved weights, ...).

    Exit code 0: every item passes; 1: some item fails; 2: it could not be checked."""
    from mnistlab.check import CheckError, check_notebook, check_weights
    from mnistlab.check.report import checklist
    from mnistlab.i18n import check_lang

    lang = check_lang(lang) if lang else None
    try:
        if len(files) == 2 and all(f.suffix == ".pth" for f in files):
            result = check_weights(files[0], files[1], lang=lang, data_dir=data_dir)
        elif len(files) == 1:
            result = check_notebook(files[0], lang=lang, full=full, data_dir=data_dir, timeout_s=timeout)
        else:
            raise CheckError("pass one notebook (.ipynb) or two weights files (multinn.pth cnn.pth)")
    except CheckError as err:
        typer.echo(f"mnistlab: cannot check: {err}", err=True)
        raise typer.Exit(2) from None
    if json_output:
        import json

        typer.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        typer.echo(checklist(result, lang))
    raise typer.Exit(result.exit_code())


@command(interrupted="interrupted; what was graded so far is kept and a re-run goes on from there")
def grade(
    submissions: Annotated[list[Path], typer.Argument(metavar="SUBMISSION", help="Notebooks, folders of them (a subfolder or LMS file prefix per student) or an LMS zip; .pth files beside a notebook are evaluated too.", show_default=False)],
    out: Annotated[Path, typer.Option(help="Folder for results.json, grades.csv, feedback/ and summary.html: new, empty, or written by grade before.", show_default=False)],
    jobs: Annotated[int, typer.Option(help="Submissions checked at once.")] = 1,
    timeout: Annotated[float, typer.Option(help="Seconds one submission's code may run before it is killed.")] = 180.0,
    memory: Annotated[int, typer.Option(help="Megabytes of address space one submission's code may map (torch alone maps about 3.5 GB).")] = 6144,
    rubric: Annotated[Optional[Path], typer.Option(help="TOML file of points per item (default: the package's rubric.toml).", show_default=False)] = None,
    lang: Lang = None,
    full: Annotated[bool, typer.Option(help="Run the training cells unmodified instead of on a small subset.")] = False,
    data_dir: DataDir = None,
    no_sandbox: Annotated[bool, typer.Option("--no-sandbox", help="Run students' code without bubblewrap (only where bwrap is missing and the code is trusted).")] = False,
):
    """Grade a class: check every submission in its own sandbox and write the grades, feedback and summary."""
    from mnistlab.check.grade import GradeOptions, grade as grade_class

    options = GradeOptions(jobs=jobs, timeout_s=timeout, memory_mb=memory, rubric=rubric, lang=lang,
                           data_dir=data_dir, sandbox=not no_sandbox, full=full)
    rows = grade_class(submissions, out, options)
    reused = sum(row.reused for row in rows)
    failed = sum(row.result["status"] == "error" for row in rows)
    typer.echo(f"graded {len(rows)} submissions ({reused} unchanged since the last run, {failed} could not be "
               f"checked) -> {out}: results.json, grades.csv, feedback/, summary.html")


def main():
    try:
        app()
    except KeyboardInterrupt:  # while click parses, before a command's own handler is reached
        _interrupted_at_start()


if __name__ == "__main__":
    sys.exit(main())
