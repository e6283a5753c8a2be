// placeholder: filled in by the SNP work (issue 5)
