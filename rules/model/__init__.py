"""TL2: model — how layers are built, registered and used in forward()."""

PREFIX = "TL2"
TITLE = "model"
