"""The indicator lifecycle: what keeps an indicator out of detection and exports besides
its validity window (see :mod:`mburoja.lifecycle.warninglists`)."""
