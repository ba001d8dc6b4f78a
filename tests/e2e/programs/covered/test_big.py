# pytest --cov: coverage's tracer and the agent's hooks at once. The 60 MB
# make_big() makes must be in the agent's log, and coverage's report (which
# lines ran) must be the one without the agent.
def make_big():
    return b"\x01" * (60 << 20)  # MARK:big


def never_called():
    return 1


def test_big():
    b = make_big()
    if len(b) < 0:
        never_called()
    assert len(b) == 60 << 20
