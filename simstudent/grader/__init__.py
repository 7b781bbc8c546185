"""grader stage."""
