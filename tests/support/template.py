"""The template as CloudFormation would deploy it: conditions decided, intrinsic functions resolved.

For tests of what a parameter's value changes (the reader grant, the alarms switch, the e-mail
subscription); the IAM and alarm tests share it.
"""

from __future__ import annotations

import re
from typing import Any

NO_VALUE = object()
PSEUDO_PARAMETERS = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "stack",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/stack/2f0c8e30-0000-4000-8000-000000000000",
    "AWS::URLSuffix": "amazonaws.com",
}


def resolved(template: dict[str, Any], **parameters: str) -> dict[str, Any]:
    """The resources CloudFormation would create from `template` with `parameters` (the others
    at their defaults): resources whose Condition is false left out, and Ref, Fn::If, Fn::Sub,
    Fn::Split, Fn::Select, Fn::Join and Fn::GetAtt resolved. A resource's own Ref or attribute stands as
    a placeholder, `<Name>` or `<Name.Attribute>`."""
    values = {name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}
    values |= PSEUDO_PARAMETERS | parameters
    resources = template["Resources"]

    def condition(name: str) -> bool:
        return bool(resolve(template["Conditions"][name]))

    def ref(name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in values:
            return values[name]
        assert name in resources, f"Ref to {name}, which the template does not define"
        return f"<{name}>"

    def sub(text: str, names: dict[str, Any]) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in names:
                return str(names[name])
            return f"<{name}>" if "." in name else str(ref(name))

        return re.sub(r"\$\{([^}]+)\}", value, text)

    def get_att(arg: Any) -> str:
        name, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
        return f"<{name}.{attribute}>"

    def fn_sub(arg: Any) -> str:
        text, names = (arg, {}) if isinstance(arg, str) else (arg[0], resolve(arg[1]))
        return sub(text, names)

    functions = {
        "Ref": ref,
        "Condition": condition,
        "Fn::If": lambda arg: resolve(arg[1] if condition(arg[0]) else arg[2]),
        "Fn::Equals": lambda arg: str(resolve(arg[0])) == str(resolve(arg[1])),
        "Fn::Not": lambda arg: not resolve(arg[0]),
        "Fn::And": lambda arg: all(map(resolve, arg)),
        "Fn::Or": lambda arg: any(map(resolve, arg)),
        "Fn::Split": lambda arg: str(resolve(arg[1])).split(arg[0]),
        "Fn::Select": lambda arg: resolve(arg[1])[int(arg[0])],
        "Fn::Join": lambda arg: arg[0].join(str(part) for part in resolve(arg[1])),
        "Fn::GetAtt": get_att,
        "Fn::Sub": fn_sub,
    }

    def resolve(node: Any) -> Any:
        if isinstance(node, list):
            return [item for item in map(resolve, node) if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key in functions:
                return functions[key](arg)
            assert not key.startswith("Fn::"), f"{key} is not resolved here"
        return {key: value for key, value in ((k, resolve(v)) for k, v in node.items()) if value is not NO_VALUE}

    return {
        name: resolve(resource)
        for name, resource in resources.items()
        if "Condition" not in resource or condition(resource["Condition"])
    }
