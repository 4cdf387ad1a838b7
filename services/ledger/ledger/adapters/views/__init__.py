"""Read models, one module per question the API or a process asks. Each reads tables that the
projections keep in the same transaction as the events, never a folded stream."""
