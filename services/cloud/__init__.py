"""Cloud backends: `azure` (Azure ML and ARM) and `local` (this machine), behind services.ports."""
