"""Resource names are DNS labels, or the export says which name to change."""

from __future__ import annotations

import pytest

from genweave.deploy.kubernetes import ExportError
from genweave.deploy.kubernetes.names import check_label_value, dns_label, resource_name


def test_names_compose_app_group_and_variant() -> None:
    assert resource_name("assistant", "generator") == "assistant-generator"
    assert resource_name("assistant", "generator", "small") == "assistant-generator-small"
    assert resource_name("assistant", "core", suffix="http") == "assistant-core-http"


@pytest.mark.parametrize(("parts", "message"), [
    (("hello", "my_group"), r"^group 'my_group': the Kubernetes name 'hello-my_group' is not a "
                            r"DNS label .*; rename the group$"),
    (("Hello", "core"), r"^app 'Hello': .* rename the app$"),
    (("hello", "core", "Big"), r"^variant 'Big': the Kubernetes name 'hello-core-Big' .*"
                               r"rename the variant$"),
    (("hello", "core", "-x"), r"^variant '-x'"),
    (("hello", "g" * 60), r"^the Kubernetes name 'hello-g+' is 66 characters, above 63; "
                          r"shorten"),
])
def test_a_name_kubernetes_refuses_says_what_to_rename(
    parts: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ExportError, match=message):
        resource_name(*parts)


def test_namespaces_and_label_values() -> None:
    assert dns_label("prod", "namespace") == "prod"
    with pytest.raises(ExportError, match="namespace 'Prod' is not a DNS label"):
        dns_label("Prod", "namespace")
    assert check_label_value("1.2-rc_3", "version") == "1.2-rc_3"
    with pytest.raises(ExportError, match="group 'g' version 'v 2' cannot be a Kubernetes label"):
        check_label_value("v 2", "group 'g' version")
