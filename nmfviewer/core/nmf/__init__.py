"""NMF engine: initialisation, solvers (generators of NMFState), fit, estimator."""
