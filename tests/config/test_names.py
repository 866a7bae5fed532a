import pytest

from ovms_cli.config.names import name_problem


@pytest.mark.parametrize("name", ["resnet", "my model", "100%", "ü", "a.b", "...", "-", "a&b=c"])
def test_names_every_url_reaches_are_allowed(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("", "must not be empty"),
        (".", 'must not be ".": URLs drop it as a dot segment, so no REST URL reaches it'),
        ("..", 'must not be "..": URLs drop it as a dot segment, so no REST URL reaches it'),
        ("org/add", "must not contain \"/\": no REST URL reaches the name 'org/add'"),
        ("add:v1", "must not contain \":\": no REST URL reaches the name 'add:v1'"),
        ("a/b:c", 'must not contain "/" or ":"'),
        ("a?b", "must not contain \"?\": no REST URL reaches the name 'a?b'"),
        ("a#b", "must not contain \"#\": no REST URL reaches the name 'a#b'"),
        ("a#b?c", 'must not contain "#" or "?"'),
    ],
)
def test_names_no_url_reaches_are_refused(name: str, expected: str) -> None:
    problem = name_problem(name)
    assert problem is not None
    assert problem.startswith(expected)
