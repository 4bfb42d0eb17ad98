"""Site and post discovery: the first stage of the build."""
