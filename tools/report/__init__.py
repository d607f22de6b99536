"""`make report` (python -m tools.report): output characteristics measured from the firmware's
own runs on the sim board, and the traceability matrix (DESIGN 4 rule -> code -> tests ->
measured value). See tools/report/__main__.py."""
