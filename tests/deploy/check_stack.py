"""Checks deploy/ecs/certhound.yaml: statically (what moto cannot model) and by creating the
stack in moto through boto3 (what it can), for both layouts; writes the task definitions moto
rendered as JSON for the Rust test that starts certhound with a container's environment.

Run by tests/tests/deploy.rs with the tests' venv (moto, boto3, cfn-lint):

    python tests/deploy/check_stack.py --template deploy/ecs/certhound.yaml \
        --endpoint http://127.0.0.1:PORT --out DIR

Exits non-zero with the failed assertion. What moto 5.2 does not model (found by trying, see
the closing note of the deploy issue) is checked on the template instead:
- AWS::SecretsManager::Secret: skipped by moto's CloudFormation (a Ref to it is empty);
- the ECS service's deployment and network configuration, and the task definition's Fargate
  settings, roles and EFS volume: dropped by moto;
- EFS ARNs (moto's GetAtt fails; the template builds them with Sub) and the access point's Ref.
"""

import argparse
import json
import re
import sys
import urllib.request

import boto3
from cfnlint.decode import decode

STACK = "certhound"
ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"


def ref(name):
    return {"Ref": name}


def static_checks(template):
    """What the template says, for what moto drops."""
    res = template["Resources"]
    kinds = {k: v["Type"] for k, v in res.items()}
    # Secrets: created empty, never a value in the template.
    secrets = [k for k, t in kinds.items() if t == "AWS::SecretsManager::Secret"]
    assert sorted(secrets) == ["TelegramSecret", "UrlscanSecret"], secrets
    for k in secrets:
        props = res[k]["Properties"]
        assert "SecretString" not in props and "GenerateSecretString" not in props, (k, props)
    # One writer on the store: the old task stops before the new one starts; rollback on.
    svc = res["Service"]["Properties"]
    dc = svc["DeploymentConfiguration"]
    assert dc["MinimumHealthyPercent"] == 0 and dc["MaximumPercent"] == 100, dc
    assert dc["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}, dc
    assert svc["LaunchType"] == "FARGATE", svc
    assert svc["DesiredCount"] == ref("DesiredCount")
    params = template["Parameters"]
    assert params["DesiredCount"]["AllowedValues"] == [0, 1], params["DesiredCount"]
    # Fargate, awsvpc, the store on EFS over TLS through the access point with IAM.
    td = res["TaskDefinition"]["Properties"]
    assert td["RequiresCompatibilities"] == ["FARGATE"] and td["NetworkMode"] == "awsvpc", td
    assert td["TaskRoleArn"] == {"Fn::GetAtt": ["TaskRole", "Arn"]}
    assert td["ExecutionRoleArn"] == {"Fn::GetAtt": ["ExecutionRole", "Arn"]}
    [volume] = td["Volumes"]
    efs = volume["EFSVolumeConfiguration"]
    assert efs["TransitEncryption"] == "ENABLED", efs
    assert efs["AuthorizationConfig"] == {"AccessPointId": ref("StoreAccessPoint"), "IAM": "ENABLED"}
    assert efs["FilesystemId"] == ref("FileSystem")
    assert res["FileSystem"]["Properties"]["Encrypted"] is True
    assert res["FileSystem"]["DeletionPolicy"] == "Retain"
    # The task policy: exactly three statements, each action on exactly its resources.
    policy = res["TaskPolicy"]["Properties"]
    assert policy["Roles"] == [ref("TaskRole")]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert set(statements) == {"PublishAlerts", "ReadSecrets", "MountStore"}, statements
    assert all(s["Effect"] == "Allow" for s in statements.values())
    assert statements["PublishAlerts"]["Action"] == "sns:Publish"
    assert statements["PublishAlerts"]["Resource"] == ref("AlertTopic")
    assert statements["ReadSecrets"]["Action"] == "secretsmanager:GetSecretValue"
    assert statements["ReadSecrets"]["Resource"] == [ref("TelegramSecret"), ref("UrlscanSecret")]
    mount = statements["MountStore"]
    assert mount["Action"] == ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    assert "file-system/${FileSystem}" in mount["Resource"]["Fn::Sub"], mount
    cond = mount["Condition"]["StringEquals"]["elasticfilesystem:AccessPointArn"]
    assert "access-point/${StoreAccessPoint}" in cond["Fn::Sub"], cond
    # No other policy reaches the task role.
    for k, v in res.items():
        if v["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and k != "TaskPolicy":
            assert ref("TaskRole") not in v["Properties"].get("Roles", []), k
    assert "Policies" not in res["TaskRole"]["Properties"]
    assert "ManagedPolicyArns" not in res["TaskRole"]["Properties"]
    # Each container: stopTimeout above its shutdown deadline, health check, store under /data.
    layouts = td["ContainerDefinitions"]["Fn::If"]
    assert layouts[0] == "RunLayout"
    for containers in layouts[1:]:
        for c in containers:
            env = {e["Name"]: e["Value"] for e in c["Environment"]}
            deadline = int(re.fullmatch(r"(\d+)s", env["CERTHOUND_SUPERVISOR__SHUTDOWN_DEADLINE"]).group(1))
            assert c["StopTimeout"] > deadline, c["Name"]
            assert c["StopTimeout"] <= 120, "Fargate's maximum"
            assert c["HealthCheck"]["Command"] == ["CMD", "/usr/local/bin/certhound", "health"]
            assert c["MountPoints"] == [{"SourceVolume": "store", "ContainerPath": "/data"}]
            assert env["CERTHOUND_STORE__PATH"].startswith("/data/"), env
            assert not any("SECRET" in k and "#" not in str(v) for k, v in env.items() if k.startswith("CERTHOUND_SECRETS__")), env
    # Two containers of one task never share a store file.
    stores = [
        {e["Name"]: e["Value"] for e in c["Environment"]}["CERTHOUND_STORE__PATH"] for c in layouts[2]
    ]
    assert len(set(stores)) == len(stores), stores


def client(service, endpoint):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def create(endpoint, body, layout, email):
    """Creates the stack in moto (after a reset) in a VPC made for it; returns its resources."""
    urllib.request.urlopen(urllib.request.Request(endpoint + "/moto-api/reset", method="POST"))
    ec2 = client("ec2", endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.8.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    sg = ec2.create_security_group(GroupName="certhound-task", Description="task", VpcId=vpc)["GroupId"]
    cfn = client("cloudformation", endpoint)
    params = {
        "VpcId": vpc,
        "SubnetA": subnets[0],
        "SubnetB": subnets[1],
        "TaskSecurityGroup": sg,
        "Layout": layout,
        "AlertEmail": email,
        "LogRetentionDays": "14",
    }
    cfn.create_stack(
        StackName=STACK,
        TemplateBody=body,
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
    )
    stack = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack
    resources = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    }
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return resources, outputs, sg


def moto_checks(endpoint, resources, outputs, sg, layout, email):
    topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{STACK}-alerts"
    assert outputs["AlertTopicArn"] == topic_arn, outputs
    sns = client("sns", endpoint)
    subs = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subs] == ([("email", email)] if email else []), subs
    [group] = client("logs", endpoint).describe_log_groups(logGroupNamePrefix=f"/ecs/{STACK}")["logGroups"]
    assert group["retentionInDays"] == 14, group
    assert client("ecr", endpoint).describe_repositories(repositoryNames=[STACK])["repositories"]
    assert client("ecs", endpoint).describe_clusters(clusters=[STACK])["clusters"][0]["status"] == "ACTIVE"
    efs = client("efs", endpoint)
    [fs] = efs.describe_file_systems(FileSystemId=outputs["FileSystemId"])["FileSystems"]
    assert fs["Encrypted"] and fs["NumberOfMountTargets"] == 2, fs
    [ap] = efs.describe_access_points(FileSystemId=fs["FileSystemId"])["AccessPoints"]
    assert ap["PosixUser"] == {"Uid": 10001, "Gid": 10001}, ap
    assert ap["RootDirectory"]["Path"] == "/certhound" and ap["RootDirectory"]["CreationInfo"]["Permissions"] == "0750"
    ec2 = client("ec2", endpoint)
    [perm] = ec2.describe_security_groups(GroupIds=[resources["MountTargetSecurityGroup"]])["SecurityGroups"][0]["IpPermissions"]
    assert (perm["IpProtocol"], perm["FromPort"], perm["ToPort"]) == ("tcp", 2049, 2049), perm
    assert [p["GroupId"] for p in perm["UserIdGroupPairs"]] == [sg], perm
    assert perm["IpRanges"] == [], "NFS from the task's group only"
    # The task role: the one policy, sns:Publish on exactly the topic. (The secrets' ARNs are
    # empty in moto, which skips the secrets: that statement is checked on the template.)
    iam = client("iam", endpoint)
    role = resources["TaskRole"]
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["certhound"]
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    doc = iam.get_role_policy(RoleName=role, PolicyName="certhound")["PolicyDocument"]
    statements = {s["Sid"]: s for s in doc["Statement"]}
    assert statements["PublishAlerts"]["Action"] == "sns:Publish"
    assert statements["PublishAlerts"]["Resource"] == topic_arn, statements["PublishAlerts"]
    assert statements["MountStore"]["Resource"].endswith(f"file-system/{fs['FileSystemId']}"), statements
    # The secrets have no values: nothing in the template gives one. moto does not create
    # them, so what the runbook does (create/put-secret-value) is what the Rust test does.
    assert client("secretsmanager", endpoint).list_secrets()["SecretList"] == []
    # The task definition as ECS would run it.
    td = client("ecs", endpoint).describe_task_definition(taskDefinition=resources["TaskDefinition"])["taskDefinition"]
    names = [c["name"] for c in td["containerDefinitions"]]
    assert names == (["certhound"] if layout == "run" else ["server", "watch"]), names
    for c in td["containerDefinitions"]:
        assert c["image"] == f"{outputs['RepositoryUri']}:latest", c["image"]
        assert c["stopTimeout"] == 40 and c["user"] == "10001:10001", c
        assert c["healthCheck"]["command"] == ["CMD", "/usr/local/bin/certhound", "health"], c
        assert c["logConfiguration"]["options"]["awslogs-group"] == f"/ecs/{STACK}", c
        env = {e["name"]: e["value"] for e in c["environment"]}
        if c["name"] != "server":
            assert env["CERTHOUND_NOTIFY__SNS__TOPIC_ARN"] == topic_arn, env
    return td


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--template", required=True)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    template, matches = decode(args.template)
    assert not matches, matches
    static_checks(template)
    body = open(args.template).read()
    rendered = {}
    for layout, email in (("server-and-watch", "soc@example.com"), ("run", "")):
        resources, outputs, sg = create(args.endpoint, body, layout, email)
        td = moto_checks(args.endpoint, resources, outputs, sg, layout, email)
        rendered[layout] = td["containerDefinitions"]
    # The last stack (run layout) stays in moto for the caller.
    with open(f"{args.out}/task-definitions.json", "w") as f:
        json.dump(rendered, f, indent=1)
    print("stack OK: both layouts created in moto; static checks passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        import traceback

        traceback.print_exc()
        sys.exit(1)
