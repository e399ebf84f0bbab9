"""Any drawing or photo of one digit made into what the networks were trained on, the MNIST way:
white ink on black, the ink's longer side scaled to 20 px (anti-aliased), centred by centre of mass
in a 28×28 field, values in [0, 1]. Shared by the web page and `mnistlab predict`."""

from __future__ import annotations

import io
import math
import threading

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from mnistlab.data import IMAGE_SIDE as SIZE  # MNIST's field
from mnistlab.errors import MnistlabError, an

BOX = 20  # MNIST scaled each digit so that its longer side fits 20 px
# Measured on the 10,000 MNIST test images: the mean centre of mass is (13.99, 14.01) in pixel-index
# coordinates, so the centre of mass goes to index 14, not to the geometric middle 13.5.
CENTRE = 14.0
# A small file can still decode to a huge image (a 72 kB PNG to 4096×4096 RGBA, ~450 MB of arrays);
# a drawing never needs more than a Full HD screen, so larger images are refused before decoding.
MAX_PIXELS = 2048 * 1024
# JPEG can decode at 1/2, 1/4 or 1/8 scale (draft mode), so larger photos are reduced while loading.
MAX_JPEG_PIXELS = 16 * MAX_PIXELS
MAX_FILE_BYTES = 32 << 20  # an image file read from disk: a 30-megapixel phone JPEG is ~15 MB
WORK_SIDE = 1024  # larger images are reduced to this many pixels a side before the float work
# Decodes allowed at once, whatever the number of requests: each holds up to ~25 MB.
DECODE_SLOTS = threading.BoundedSemaphore(2)
MIN_CONTRAST = 0.1  # ink must differ from the background by 10% of full scale to count as a digit
INK_THRESHOLD = 0.05  # after normalising the ink to peak 1: weaker pixels (noise, JPEG ringing) are not ink
FORMATS = ("PNG", "JPEG", "MPO")  # MPO: what many phones write, JPEG frames; the first is the photo
JPEG_FORMATS = ("JPEG", "MPO")


class BlankImage(MnistlabError):
    """The image holds no digit (an empty canvas): the web API answers it with 422, not 400."""


def decode_image(data: bytes, name: str = "the image") -> np.ndarray:
    """PNG or JPEG bytes as a grayscale array (H, W) in [0, 1], 1 = white; transparency flattened,
    turned upright as the EXIF Orientation says (a phone photo taken sideways), an MPO's first frame."""
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:  # a header claiming more pixels than PIL ever decodes
        raise MnistlabError(f"{name} has too many pixels; at most {MAX_PIXELS:,} pixels are accepted") from None
    except Exception:  # PIL raises many kinds for non-images; all mean the same thing here
        raise MnistlabError(f"{name} is not a PNG or JPEG image") from None
    if image.format not in FORMATS:
        raise MnistlabError(f"{name} is {an(str(image.format))} image; send a PNG or JPEG")
    width, height = image.size
    cap = MAX_JPEG_PIXELS if image.format in JPEG_FORMATS else MAX_PIXELS
    if width * height > cap:
        raise MnistlabError(f"{name} is {width}×{height} pixels; at most {cap:,} pixels are accepted")
    if width * height > MAX_PIXELS:  # a JPEG: decode it at the largest of 1/2, 1/4, 1/8 that fits
        scale = next(s for s in (2, 4, 8) if -(-width // s) * -(-height // s) <= MAX_PIXELS)
        image.draft("L", (width // scale, height // scale))
        if image.size[0] * image.size[1] > MAX_PIXELS:
            raise MnistlabError(f"{name} is {width}×{height} pixels; at most {MAX_PIXELS:,} pixels are accepted")
    try:
        image.load()
        image = ImageOps.exif_transpose(image)  # before anything reads the pixels' positions
        if image.mode.startswith("I"):  # 16/32-bit grayscale
            gray = np.asarray(shrunk(image.convert("I")), dtype=np.float32)
            return np.clip(gray / (65535.0 if gray.max() > 255 else 255.0), 0, 1)
        if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
            image = shrunk(image.convert("RGBA"))
            alpha = np.asarray(image.getchannel("A"), dtype=np.float32) / 255.0  # (H, W)
        else:
            image, alpha = shrunk(image.convert("L")), None
        gray = np.asarray(image.convert("L"), dtype=np.float32) / 255.0  # (H, W), ITU-R 601 luma
    except Exception:
        raise MnistlabError(f"{name} is damaged or truncated and cannot be decoded") from None
    return gray if alpha is None else flatten_alpha(gray, alpha)


def shrunk(image: Image.Image) -> Image.Image:
    """`image` box-reduced by a whole factor to at most WORK_SIDE pixels a side: the digit ends up
    20 px tall, and the float arrays of a 2-megapixel image would cost ~50 MB per request."""
    factor = -(-max(image.size) // WORK_SIDE)
    return image.reduce(factor) if factor > 1 else image


def flatten_alpha(gray: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Paint transparent pixels in the colour opposite to the painted ones, so the ink stays ink
    whether it is dark strokes on a transparent canvas or light ones."""
    painted = float(alpha.sum())
    if painted == 0:
        raise BlankImage("the image is blank (fully transparent); draw a digit")
    if alpha.min() == 1:
        return gray
    mean_painted = float((gray * alpha).sum()) / painted
    background = 1.0 if mean_painted < 0.5 else 0.0
    return gray * alpha + background * (1 - alpha)


def to_mnist(gray: np.ndarray) -> np.ndarray:
    """A grayscale digit (H, W) in [0, 1] → (28, 28) float32 in [0, 1], white ink on black."""
    gray = np.asarray(gray, dtype=np.float32)
    if gray.ndim != 2 or gray.size == 0 or not np.isfinite(gray).all():
        raise MnistlabError("the image must be a finite 2-D grayscale array")
    ink = ink_of(gray)  # (H, W), ink > 0
    peak = float(ink.max())
    if peak < MIN_CONTRAST:
        raise BlankImage("the image is blank (no ink stands out from the background); draw a digit")
    ink /= peak

    # crop to the ink's bounding box
    rows = np.flatnonzero((ink > INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink > INK_THRESHOLD).any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]  # (h, w)

    # longer side to 20 px, aspect ratio kept, anti-aliased
    scale = BOX / max(crop.shape)
    height = min(BOX, max(1, round(crop.shape[0] * scale)))
    width = min(BOX, max(1, round(crop.shape[1] * scale)))
    resized = F.interpolate(torch.from_numpy(np.ascontiguousarray(crop))[None, None], size=(height, width),
                            mode="bilinear", antialias=True, align_corners=False)[0, 0].numpy()  # (height, width)
    resized = np.clip(resized, 0, None)
    resized /= max(float(resized.max()), 1e-6)  # thin strokes thin out when shrunk; MNIST's peak at 1

    # paste so that the centre of mass lands on MNIST's centre (kept inside the field)
    ys, xs = np.indices(resized.shape)
    mass = float(resized.sum())
    top = _offset(CENTRE - float((ys * resized).sum()) / mass, height)
    left = _offset(CENTRE - float((xs * resized).sum()) / mass, width)
    field = np.zeros((SIZE, SIZE), dtype=np.float32)
    field[top : top + height, left : left + width] = resized
    return np.clip(field, 0, 1)


def to_field(gray: np.ndarray) -> np.ndarray:
    """A grayscale drawing (H, W) → (28, 28) float32 in [0, 1], white ink on black, the whole image
    shrunk into the field where it was drawn: no cropping, no 20 px box, no centring (the studio's
    "centre like MNIST" switched off). A non-square image is padded with background to a square."""
    gray = np.asarray(gray, dtype=np.float32)
    if gray.ndim != 2 or gray.size == 0 or not np.isfinite(gray).all():
        raise MnistlabError("the image must be a finite 2-D grayscale array")
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    ink = np.clip((background - gray) if background > 0.5 else (gray - background), 0, None)
    if float(ink.max()) < MIN_CONTRAST:
        raise BlankImage("the image is blank (no ink stands out from the background); draw a digit")
    side = max(ink.shape)
    square = np.zeros((side, side), dtype=np.float32)
    top, left = (side - ink.shape[0]) // 2, (side - ink.shape[1]) // 2
    square[top: top + ink.shape[0], left: left + ink.shape[1]] = ink
    field = F.interpolate(torch.from_numpy(square)[None, None], size=(SIZE, SIZE), mode="bilinear",
                          antialias=True, align_corners=False)[0, 0].numpy()
    field = np.clip(field, 0, None)
    return np.clip(field / max(float(field.max()), 1e-6), 0, 1)  # MNIST's peak at 1, as to_mnist


def image_to_field(data: bytes, name: str = "the image") -> np.ndarray:
    """PNG/JPEG bytes → (28, 28) float32 network input, uncentred (to_field)."""
    with DECODE_SLOTS:
        return to_field(decode_image(data, name))


def _offset(shift: float, extent: int) -> int:
    return min(max(int(math.floor(shift + 0.5)), 0), SIZE - extent)


def image_to_mnist(data: bytes, name: str = "the image") -> np.ndarray:
    """PNG/JPEG bytes → (28, 28) float32 network input (at most DECODE_SLOTS at once: memory stays bounded)."""
    with DECODE_SLOTS:
        return to_mnist(decode_image(data, name))


def pixels_to_mnist(pixels) -> np.ndarray:
    """A list of 784 numbers in [0, 1] (an already-prepared 28×28 image, row by row) → (28, 28)."""
    if not isinstance(pixels, list) or len(pixels) != SIZE * SIZE:
        count = len(pixels) if isinstance(pixels, list) else type(pixels).__name__
        raise MnistlabError(f"pixels must be a list of {SIZE * SIZE} numbers (got {count})")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pixels):
        raise MnistlabError("pixels must all be numbers")
    try:
        values = np.array(pixels, dtype=np.float64)
    except OverflowError:  # an integer too large for a float
        raise MnistlabError("pixels must lie in [0, 1] (0 = black background, 1 = white ink)") from None
    if not np.isfinite(values).all():
        raise MnistlabError("pixels must be finite numbers (no NaN or infinity)")
    if values.min() < 0 or values.max() > 1:
        raise MnistlabError("pixels must lie in [0, 1] (0 = black background, 1 = white ink)")
    image = values.astype(np.float32).reshape(SIZE, SIZE)
    if float(ink_of(image).max()) < MIN_CONTRAST:  # the rule to_mnist applies to an image
        raise BlankImage("the pixels are blank (no ink stands out from the background); draw a digit")
    return image


def ink_of(gray: np.ndarray) -> np.ndarray:
    """How far each pixel stands out from the background as ink (≥ 0). Polarity: the border is
    mostly background; MNIST wants dark background and light ink. A drawing whose ink peaks under
    MIN_CONTRAST is blank, whatever form it came in."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    ink = (background - gray) if background > 0.5 else (gray - background)
    return np.clip(ink, 0, None)
