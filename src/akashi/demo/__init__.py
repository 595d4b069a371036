"""Demo traffic: simulated calls and a camera through the real code paths of an installation (``akashi demo``)."""
