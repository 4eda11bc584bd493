"""ApplyWindow: a ToolWindow with a model picker and a preset picker on top of its settings.

Subclasses set ``kinds`` (the application preset kinds they offer), add their settings with
``add_field(name, label, widget)`` (a preset's param of that name fills the widget), say
what is wrong with a model in ``model_problem(opened)`` and call ``finish_setup()`` at the
end of ``__init__``: the first preset is applied, so Run does something useful at once.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QPushButton, QWidget

from engine.applications.models import OpenedModel
from engine.applications.preset import ApplicationPreset
from engine.errors import ConfigError, EBMError

from .apply_common import ModelPicker, PresetPicker, Progress, get_field, set_field
from .base import ToolWindow


class ApplyWindow(ToolWindow):
    kinds: tuple[str, ...] = ()
    uses_model_picker = True  # False: the window picks its models itself (compose) and overrides check_models

    def __init__(self, session: Any = None, parent: QWidget | None = None):
        super().__init__(session, parent)
        self.fields: dict[str, QWidget] = {}
        self.defaults: dict[str, Any] = {}
        self.result: Any = None
        self._model_error = False
        self.model_picker: ModelPicker | None = None
        if self.uses_model_picker:
            self.model_picker = ModelPicker(session)
            self.form.addRow("Model", self.model_picker)
            self.form.addRow(self.model_picker.info)
            self.model_picker.changed.connect(self.models_changed)
        self.preset_picker = PresetPicker(self.kinds)
        self.form.addRow("Preset", self.preset_picker)
        self.form.addRow(self.preset_picker.about)
        self.save_button = QPushButton("Save PNG…")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.save_dialog)
        self.preset_picker.chosen.connect(self.apply_preset)

    # --- for subclasses ----------------------------------------------------------------

    def add_field(self, name: str, label: str, widget: QWidget) -> QWidget:
        self.form.addRow(label, widget)
        self.fields[name] = widget
        self.defaults[name] = get_field(widget)
        return widget

    def finish_setup(self) -> None:
        """Add the Save button and apply the first preset (or check the default model)."""
        self.form.addRow("", self.save_button)
        if self.preset_picker.current() is not None:
            self.preset_picker.choose()
        else:
            self.models_changed()

    def model_problem(self, opened: OpenedModel) -> str | None:
        """Why this window cannot use ``opened`` (a message for the status line), or None."""
        return None

    def model_changed(self) -> None:
        """The chosen model changed (and is usable, or not: see checked_model)."""

    def preset_applied(self, preset: ApplicationPreset) -> None:
        """A preset was applied (its params with a field already are in the form)."""

    def save_to(self, folder: str) -> list[str]:
        """Write the result's pictures into ``folder``; returns the paths."""
        return []

    # --- shared behaviour ---------------------------------------------------------------

    def check_models(self) -> None:
        """Raise (ConfigError, ModelFileError) when the chosen model(s) cannot be used here."""
        self.checked_model()

    def checked_model(self) -> OpenedModel:
        """The chosen model's description (GUI thread); ConfigError/ModelFileError if unusable."""
        assert self.model_picker is not None
        opened = self.model_picker.opened()
        problem = self.model_problem(opened)
        if problem:
            raise ConfigError(problem)
        return opened

    def apply_preset(self, preset: ApplicationPreset) -> None:
        if self.model_picker is not None and isinstance(preset.model, str):
            self.model_picker.set_value(preset.model)
        for name, widget in self.fields.items():  # what the preset does not set goes back to the default
            set_field(widget, preset.params.get(name, self.defaults[name]))
        self.preset_applied(preset)

    def models_changed(self) -> None:
        """Check the model(s) again: an unusable one is reported on the status line at once."""
        try:
            self.check_models()
        except EBMError as exc:
            self._model_error = True
            self.show_error(str(exc))
        else:
            if self._model_error:
                self.show_message("")
            self._model_error = False
        self.model_changed()

    def on_report(self, obj: Any) -> None:
        if isinstance(obj, Progress):
            self.set_progress(obj.done, obj.total)

    def save_dialog(self) -> None:
        from .apply_common import pick_folder

        folder = pick_folder(self, f"Save the {self.title.lower()} pictures into…")
        if not folder:
            return
        try:
            paths = self.save_to(folder)
        except EBMError as exc:
            self.show_error(str(exc))
            return
        self.show_message("saved " + ", ".join(paths))
        if self.session is not None and hasattr(self.session, "log"):
            self.session.log("info", f"{self.title}: saved {', '.join(paths)}")
