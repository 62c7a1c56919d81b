# Placeholder until the control plane binaries target lands (issue 3).
.PHONY: testenv
testenv:
	@true
