"""Pure rules of customer value: no I/O library here (an import contract checks it)."""
