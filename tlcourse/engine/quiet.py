"""What a learner sees: the course's own warnings without machine paths, and no library noise
they cannot act on (FutureWarnings from the libraries, a weight-loading bar on every model load).

Imported by the modules that load models, data and train; importing it applies the filters.
"""
import logging
import warnings

LIBRARIES = r"(transformers|peft|accelerate|datasets|torch|huggingface_hub|trl)(\..*)?"


class CourseWarning(UserWarning):
    """A warning from tlcourse: shown as one line that says what to do, with no file or line."""


def warn(message: str) -> None:
    warnings.warn(message, CourseWarning, stacklevel=3)


def _format(message, category, filename, lineno, line=None, _default=warnings.formatwarning):
    if issubclass(category, CourseWarning):
        return f"{category.__name__}: {message}\n"
    return _default(message, category, filename, lineno, line)


def no_weight_bars() -> None:
    """transformers' "Loading weights" bar, drawn on every from_pretrained: off (the load takes a second)."""
    from transformers.utils import logging
    logging.disable_progress_bar()


def no_data_bars() -> None:
    """datasets' bars for casting and mapping splits (milliseconds each at the course's sizes): off."""
    import datasets
    datasets.disable_progress_bars()


warnings.formatwarning = _format
warnings.filterwarnings("ignore", category=FutureWarning, module=LIBRARIES)
# bitsandbytes on a CPU with AVX512-BF16 asks the hub (the `kernels` package) for a faster 4-bit kernel and logs
# a warning when it cannot have one; its own CPU code runs instead.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
# LLM.int8() multiplies in fp16 by design and logs so at every layer's call.
logging.getLogger("bitsandbytes.autograd._functions").setLevel(logging.ERROR)
