"""Create or update the CloudFormation stack from ``template.yaml`` with boto3, then
deploy the API again (CloudFormation keeps the old deployment of a changed method)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from .streaming import enable_streaming

TEMPLATE = Path(__file__).with_name("template.yaml")
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]  # SAM's roles and transform
NO_CHANGES = "didn't contain changes"


def upload(s3: Any, package: Path, bucket: str) -> str:
    """Put the package in ``bucket``; return its key (named by content, so never stale)."""
    key = f"stream_exports/{package.name}"
    with package.open("rb") as body:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    return key


def stack_exists(cloudformation: Any, stack: str) -> bool:
    """Whether ``stack`` exists (and is not deleted)."""
    try:
        found = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return False
        raise
    return bool(found) and found[0]["StackStatus"] != "DELETE_COMPLETE"


def apply_change_set(cloudformation: Any, stack: str, parameters: dict[str, str]) -> bool:
    """Create and execute a change set; False when the template changes nothing."""
    update = stack_exists(cloudformation, stack)
    name = f"stream-exports-{int(time.time())}"
    cloudformation.create_change_set(
        StackName=stack,
        ChangeSetName=name,
        ChangeSetType="UPDATE" if update else "CREATE",
        TemplateBody=TEMPLATE.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=CAPABILITIES,
    )
    try:
        cloudformation.get_waiter("change_set_create_complete").wait(
            StackName=stack, ChangeSetName=name
        )
    except WaiterError:
        reason = cloudformation.describe_change_set(StackName=stack, ChangeSetName=name)
        if NO_CHANGES in reason.get("StatusReason", ""):
            cloudformation.delete_change_set(StackName=stack, ChangeSetName=name)
            return False
        raise
    cloudformation.execute_change_set(StackName=stack, ChangeSetName=name)
    done = "stack_update_complete" if update else "stack_create_complete"
    cloudformation.get_waiter(done).wait(StackName=stack)
    return True


def outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    """The stack's outputs by key."""
    (found,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}


def deploy(
    clients: dict[str, Any], package: Path, stack: str, bucket: str, parameters: dict[str, str]
) -> dict[str, str]:
    """Upload, apply the template, redeploy the API with every route STREAM; the outputs."""
    key = upload(clients["s3"], package, bucket)
    parameters = {"CodeBucket": bucket, "CodeKey": key, **parameters}
    apply_change_set(clients["cloudformation"], stack, parameters)
    found = outputs(clients["cloudformation"], stack)
    enable_streaming(clients["apigateway"], found["ApiId"], found["StageName"])
    return found
