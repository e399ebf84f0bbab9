"""Every text the studio page shows, as gettext messages (English source, Spanish in
locale/es/LC_MESSAGES/mnistlab.po); the page fetches them as JSON from GET /api/strings?lang=..
Placeholders in braces ({ms}) are filled in by the page."""

from __future__ import annotations

from mnistlab.i18n import LANGUAGES, translation
from mnistlab.i18n import N_ as _  # marks each message for extraction; `strings_for` translates them


STRINGS = {
    # page
    "title": _("mnistlab studio"),
    "tagline": _("draw a digit, look inside both networks, train them and watch them learn"),
    "intro": _("The multilayer perceptron and the LeNet-5-style CNN of the practice look at the same "
               "28×28 image, made from your drawing the way MNIST made its digits."),
    "language": _("Language"),
    # drawing
    "drawing": _("Your drawing"),
    "pad_label": _("Drawing area: draw one digit"),
    "clear": _("Clear"),
    "draw_hint": _("One digit, large, with the mouse, a pen or a finger."),
    "too_small": _("This drawing is small: the networks read a digit best when it fills most of the pad. "
                   "Clear and draw it larger."),
    "seen": _("What the networks see"),
    "seen_hint": _("28×28 pixels, white ink on black, the ink scaled into a 20×20 box and centred by "
                   "its centre of mass."),
    # answers
    "draw_a_digit": _("draw a digit"),
    "sure": _("{percent} sure"),
    "on_test_set": _("{percent} on the test set"),
    "not_loaded": _("{network} is not loaded: there is no finished run of it yet. Train one below."),
    # run picker
    "picker": _("What each network answers with"),
    "picker_hint": _("Every finished run and .pth file there is to choose from; the choice is kept when the "
                     "server restarts."),
    "picker_run": _("{run} ({percent} on the test set, {steps} steps)"),
    "picker_file": _("{file} (a .pth file)"),
    "picker_none": _("nothing yet"),
    "picker_serving": _("Answers with {source}"),
    "use_run": _("Use this run"),
    # inside view
    "inside": _("Inside the networks"),
    "inside_hint": _("Every layer's output for your drawing, in the order the network computes it. "
                     "Bright is a large activation. Hover a layer to see where its size comes from."),
    "inside_empty": _("Draw a digit to see every layer respond."),
    "layer_maps": _("{count} maps of {side}×{side}"),
    "layer_units": _("{count} units"),
    "layer_logits": _("10 outputs (logits), one per digit"),
    "map_title": _("{layer}, map {index}"),
    "scale_largest": _("the layer's largest value"),
    "formula": _("Output size: O = (W − F + 2P) / S + 1"),
    "formula_row": _("W input side, F kernel, P padding, S stride: {working}"),
    "dense_row": _("Fully connected: {working} (every input to every output)"),
    "flatten_row": _("The {shape} maps are flattened into {count} numbers first."),
    "parameters": _("Parameters: {weights} weights ({shape}) + {biases} biases = {total}"),
    "no_parameters": _("No parameters: it keeps the largest value of each 2×2 window."),
    "filters": _("Learned filters"),
    "filters_over_image": _("{layer}: {count} filters of {side} over the image (filter k makes map k)"),
    "filters_over_maps": _("{layer}: {count} filters, each {slices} slices of {side} (one per {previous} map)"),
    "scale_weights": _("each filter's own largest weight at either end, 0 white"),
    "filters_hint": _("Red is a positive weight, blue a negative one; each filter is scaled to its own largest weight."),
    # training
    "train": _("Train a network"),
    "train_hint": _("The same training as `mnistlab train`: the run folder is saved with the others; when it "
                    "ends, the new run is offered in the run picker and the page answers with it once chosen."),
    "network": _("Network"),
    "recipe": _("Recipe"),
    "recipe_practice": _("practice (the lab's plain SGD)"),
    "recipe_tuned": _("tuned (momentum, one-cycle, augmentation)"),
    "epochs": _("Epochs"),
    "seed": _("Seed"),
    "max_steps": _("Step cap"),
    "max_steps_hint": _("no cap"),
    "default": _("default"),
    "start": _("Start"),
    "stop": _("Stop"),
    "chart_step": _("step"),
    "chart_loss_axis": _("loss"),
    "chart_loss": _("loss per step"),
    "chart_average": _("running average (60 steps)"),
    "progress": _("Step {step} of {total}"),
    "speed": _("{rate} images/s"),
    "epoch": _("Epoch"),
    "steps": _("Steps"),
    "test_accuracy": _("Test accuracy"),
    "mean_loss": _("Mean loss"),
    "training_starting": _("Starting: loading MNIST and building the network…"),
    "training_running": _("Training {network}…"),
    "training_capped": _("Training {network}: its {epochs} epochs end after {total} steps, before the step cap."),
    "training_done": _("Done: {percent} on the test set. The page now answers with {run}."),
    "training_done_offer": _("Done: {percent} on the test set. The new run {run} is ready: use it, or keep "
                             "the network the page answers with."),
    "training_stopped": _("Stopped. The unfinished run was removed."),
    "training_off": _("Training from the page is off because the server listens on a public address; "
                      "start it with `mnistlab serve --allow-training` to allow it."),
    # lab controls (lab.js)
    "lab_title": _("Move the drawing"),
    "lab_x": _("across"),
    "lab_y": _("down"),
    "lab_rotate": _("rotate"),
    "lab_centre": _("centre like MNIST (off: the drawing goes in where it was drawn)"),
    "lab_networks": _("networks"),
    "lab_plain": _("trained on the images"),
    "lab_permuted": _("trained on scrambled pixels"),
    "lab_reset": _("Reset"),
    "lab_input": _("input"),
    "lab_input_plain": _("what this network sees"),
    "lab_input_scrambled": _("what it sees: the pixels scrambled"),
    "lab_badge": _("pixels scrambled"),
    "lab_sweep": _("Sliding the drawing"),
    "lab_sweep_hint": _("Each network's confidence in its answer as the drawing moves from 6 pixels left to "
                        "6 pixels right of where it is now."),
    "lab_sweep_axis": _("move (pixels)"),
    # status line
    "loading": _("Loading the networks…"),
    "ready": _("Draw a digit."),
    "answered": _("Answered in {ms} ms."),
    "unreachable": _("Could not reach the mnistlab server."),
    "retrying": _("Trying again in {seconds} s."),
    # API errors, by their "code"
    "error_blank": _("The drawing is blank: draw a digit."),
    "error_bad_image": _("The server could not read the drawing as an image."),
    "error_too_large": _("The drawing is too large to send."),
    "error_unsupported_type": _("The server does not accept that kind of data."),
    "error_bad_request": _("The server refused the request."),
    "error_unprocessable": _("The server could not use those values."),
    "error_bad_settings": _("Those training settings are not valid."),
    "error_busy": _("A training job is already running: stop it or wait for it to finish."),
    "error_forbidden": _("Training from the page is not allowed on this server."),
    "error_not_found": _("Not found."),
    "error_not_allowed": _("The server does not allow that."),
    "error_cancelled": _("Stopped. The unfinished run was removed."),
    "error_failed": _("Training failed: the loss diverged or the data could not be read."),
    "error_crashed": _("The training process ended unexpectedly."),
    "error_too_many": _("Too many event streams are open: close another tab that follows the training."),
    "error_cannot_write": _("The server cannot write in its runs folder: restart it with a folder it can write to."),
    "error_unavailable": _("The server is starting or stopping: try again in a moment."),
    "error_unknown": _("Something went wrong on the server."),
}


def strings_for(lang: str) -> dict[str, str]:
    """STRINGS in `lang` (one of i18n.LANGUAGES)."""
    gettext = translation(lang).gettext
    return {key: gettext(message) for key, message in STRINGS.items()}


__all__ = ["LANGUAGES", "STRINGS", "strings_for"]
