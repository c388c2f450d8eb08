"""Result records (no torch): the result JSON files, energy pieces and sums, lineage and break-even."""
