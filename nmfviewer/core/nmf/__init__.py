"""NMF engine: initialisation, the solver registry (generators of NMFState), the run
driver (run.py: the one stop loop), fit, the estimator."""
