"""Fine-tuning: SQuAD and MultiNLI data, the step loop and the runs."""
