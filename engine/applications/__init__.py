"""What EBMs are for: applications of a trained energy model (engine only, no Qt).

- :mod:`.models`: ``open_model(ref)`` opens a shipped model, a run folder or a file;
- :mod:`.preset`: application presets (resources/applications/NAME.toml);
- :mod:`.inpaint`: inpainting and denoising; :mod:`.interpolate`: paths between inputs;
- :mod:`.conditional`: class-conditional samples from a JEM; :mod:`.ood`: out-of-distribution scores;
- :mod:`.texture`, :mod:`.compose`: texture synthesis and composed energies.

Each application is a plain function on arrays plus a *preset function* (listed in its
module's ``PRESET_FUNCTIONS``) that takes TOML-friendly arguments; the CLI subcommands
(:mod:`.cli`) and the GUI call the same functions.
"""

from .models import OpenedModel, open_model, shipped_models
from .preset import ApplicationPreset, list_applications, load_application, run_application

__all__ = ["ApplicationPreset", "OpenedModel", "list_applications", "load_application", "open_model",
           "run_application", "shipped_models"]
