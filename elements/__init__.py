"""msh elements: one file per element, registered by class name."""
