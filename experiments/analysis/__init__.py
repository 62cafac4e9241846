"""Reading finished runs (``collect``), statistics with intervals (``stats``), the paper's
claims as verdicts (``claims``) and time to accuracy (``speed``). Reads run folders; never
trains."""
