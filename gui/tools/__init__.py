"""Windows for experiments made of many runs (learning curves, search, benchmark) and for
what EBMs are for (inpainting, interpolation, composition, class-conditional, OOD, texture).
Each is a ToolWindow (gui.tools.base) that runs its engine function in a gui.jobs.Job."""
