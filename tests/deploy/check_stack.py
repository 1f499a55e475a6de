"""Checks deploy/ecs/certhound.yaml: statically (what moto cannot model) and by creating the
stack in moto through boto3 (what it can), for both store backends (redb on EFS, one service;
dynamodb, a table and two services, slots a and b) and both layouts; writes the task
definitions moto rendered as JSON for the Rust tests that start certhound with a container's
environment.

Run by tests/tests/deploy.rs with the tests' venv (moto, boto3, cfn-lint):

    python tests/deploy/check_stack.py --template deploy/ecs/certhound.yaml \
        --endpoint http://127.0.0.1:PORT --out DIR [--keep redb|dynamodb]

The stack left in moto is the run layout's with the --keep backend (redb unless told).

Exits non-zero with the failed assertion. What moto 5.2 does not model (found by trying, see
the closing note of the deploy issue) is checked on the template instead:
- AWS::SecretsManager::Secret: skipped by moto's CloudFormation (a Ref to it is empty);
- the ECS service's deployment and network configuration, and the task definition's Fargate
  settings, roles and EFS volume: dropped by moto;
- EFS ARNs (moto's GetAtt fails; the template builds them with Sub) and the access point's Ref;
- the DynamoDB table's TimeToLiveSpecification and PointInTimeRecoverySpecification, and the
  DeletionPolicy of any resource: not passed to moto's table (moto/dynamodb/models/table.py);
- DependsOn (moto orders creation by it but keeps nothing to read back).
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


# What the dynamodb backend's task role may do on its table, and nothing else there. IAM has no
# dynamodb:TransactWriteItems action: a transaction is authorized per item as PutItem,
# UpdateItem, DeleteItem or ConditionCheckItem. CreateTable, UpdateTimeToLive and
# DescribeTimeToLive serve only store.dynamodb.create_table, which the stack leaves off.
TABLE_ACTIONS = [
    "dynamodb:BatchGetItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:UpdateItem",
]
# The resources each backend has beyond the shared ones (ECR, cluster, logs, topic, secrets,
# roles).
REDB_ONLY = {
    "FileSystem",
    "MountTargetSecurityGroup",
    "MountTargetA",
    "MountTargetB",
    "StoreAccessPoint",
    "TaskPolicy",
    "TaskDefinition",
    "Service",
}
DYNAMO_ONLY = {"Table", "TaskPolicyDynamo", "TaskDefinitionA", "TaskDefinitionB", "ServiceA", "ServiceB"}
NO_VALUE = object()


def resolve(node, conditions):
    """`node` with each Fn::If decided by `conditions` and AWS::NoValue dropped, as
    CloudFormation renders it (other intrinsics are kept as written)."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, yes, no = node["Fn::If"]
            return resolve(yes if conditions[name] else no, conditions)
        if node == ref("AWS::NoValue"):
            return NO_VALUE
        out = {k: resolve(v, conditions) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}
    if isinstance(node, list):
        return [v for v in (resolve(v, conditions) for v in node) if v is not NO_VALUE]
    return node


def rendered(template, backend, layout, email=""):
    """The resources the template makes with these parameters, resolved."""
    conditions = {
        "RunLayout": layout == "run",
        "IsDynamo": backend == "dynamodb",
        "IsRedb": backend == "redb",
        "HasAlertEmail": email != "",
    }
    # Every condition of the template is one of these (a new one must be added here).
    assert set(template["Conditions"]) == set(conditions), template["Conditions"]
    return {
        k: resolve(v, conditions)
        for k, v in template["Resources"].items()
        if "Condition" not in v or conditions[v["Condition"]]
    }


def static_checks(template):
    """What the template says, for what moto drops."""
    params = template["Parameters"]
    assert params["StoreBackend"]["AllowedValues"] == ["redb", "dynamodb"], params["StoreBackend"]
    assert params["StoreBackend"]["Default"] == "redb"
    # Every resource is shared or belongs to one backend.
    for k, v in template["Resources"].items():
        expected = "IsRedb" if k in REDB_ONLY else "IsDynamo" if k in DYNAMO_ONLY else None
        assert v.get("Condition") == expected, (k, v.get("Condition"))
    for layout in ("run", "server-and-watch"):
        redb_checks(template, rendered(template, "redb", layout), layout)
        dynamo_checks(template, rendered(template, "dynamodb", layout), layout)


def redb_checks(template, res, layout):
    """The redb stack: one service of one task, the store on EFS (as before the backend
    parameter)."""
    kinds = {k: v["Type"] for k, v in res.items()}
    # Secrets: created empty, never a value in the template.
    secrets = [k for k, t in kinds.items() if t == "AWS::SecretsManager::Secret"]
    assert sorted(secrets) == ["AdminSecret", "TelegramSecret", "UrlscanSecret"], secrets
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
    assert svc["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"] == [ref("SubnetA"), ref("SubnetB")]
    assert {"MountTargetA", "MountTargetB", "TaskPolicy"} <= set(res["Service"]["DependsOn"])
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
    assert "Table" not in res and not DYNAMO_ONLY & set(res), set(res)
    # The task policy: exactly three statements, each action on exactly its resources.
    policy = res["TaskPolicy"]["Properties"]
    assert policy["Roles"] == [ref("TaskRole")]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert set(statements) == {"PublishAlerts", "ReadSecrets", "MountStore"}, statements
    assert all(s["Effect"] == "Allow" for s in statements.values())
    assert statements["PublishAlerts"]["Action"] == "sns:Publish"
    assert statements["PublishAlerts"]["Resource"] == ref("AlertTopic")
    assert statements["ReadSecrets"]["Action"] == "secretsmanager:GetSecretValue"
    assert statements["ReadSecrets"]["Resource"] == [ref("TelegramSecret"), ref("UrlscanSecret"), ref("AdminSecret")]
    mount = statements["MountStore"]
    assert mount["Action"] == ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    assert "file-system/${FileSystem}" in mount["Resource"]["Fn::Sub"], mount
    cond = mount["Condition"]["StringEquals"]["elasticfilesystem:AccessPointArn"]
    assert "access-point/${StoreAccessPoint}" in cond["Fn::Sub"], cond
    only_policy(res, "TaskPolicy")
    # Each container: stopTimeout above its shutdown deadline, health check, store under /data.
    containers = td["ContainerDefinitions"]
    assert [c["Name"] for c in containers] == (["certhound"] if layout == "run" else ["server", "watch"])
    for c in containers:
        env = container_checks(c)
        assert c["MountPoints"] == [{"SourceVolume": "store", "ContainerPath": "/data"}]
        assert env["CERTHOUND_STORE__PATH"].startswith("/data/"), env
        assert not any(k.startswith("CERTHOUND_STORE__") and k != "CERTHOUND_STORE__PATH" for k in env), env
    # Two containers of one task never share a store file.
    stores = [{e["Name"]: e["Value"] for e in c["Environment"]}["CERTHOUND_STORE__PATH"] for c in containers]
    assert len(set(stores)) == len(stores), stores


def only_policy(res, name):
    """`name` is the one policy that reaches the task role."""
    for k, v in res.items():
        if v["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and k != name:
            assert ref("TaskRole") not in v["Properties"].get("Roles", []), k
    assert res[name]["Properties"]["Roles"] == [ref("TaskRole")]
    assert "Policies" not in res["TaskRole"]["Properties"]
    assert "ManagedPolicyArns" not in res["TaskRole"]["Properties"]


def container_checks(c):
    """What every container promises; returns its environment."""
    env = {e["Name"]: e["Value"] for e in c["Environment"]}
    assert len(env) == len(c["Environment"]), "no variable twice"
    deadline = int(re.fullmatch(r"(\d+)s", env["CERTHOUND_SUPERVISOR__SHUTDOWN_DEADLINE"]).group(1))
    assert c["StopTimeout"] > deadline, c["Name"]
    assert c["StopTimeout"] <= 120, "Fargate's maximum"
    assert c["HealthCheck"]["Command"] == ["CMD", "/usr/local/bin/certhound", "health"]
    assert c["ReadonlyRootFilesystem"] is True
    assert not any("SECRET" in k and "#" not in str(v) for k, v in env.items() if k.startswith("CERTHOUND_SECRETS__")), env
    return env


def dynamo_checks(template, res, layout):
    """The dynamodb stack: the table, its actions on it alone, two services (slots a and b) one
    after the other, one per subnet, and no EFS."""
    assert not REDB_ONLY & set(res), set(res)
    assert not any(v["Type"].startswith("AWS::EFS::") for v in res.values())
    table = res["Table"]
    assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain", table
    props = table["Properties"]
    assert props["AttributeDefinitions"] == [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ], props
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ], props
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert "GlobalSecondaryIndexes" not in props and "LocalSecondaryIndexes" not in props
    assert "StreamSpecification" not in props
    # The task policy: the redb one's statements for alerts and secrets, the table's actions
    # on the table's ARN instead of the file system.
    only_policy(res, "TaskPolicyDynamo")
    statements = {s["Sid"]: s for s in res["TaskPolicyDynamo"]["Properties"]["PolicyDocument"]["Statement"]}
    redb = rendered(template, "redb", layout)["TaskPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    shared = {s["Sid"]: s for s in redb if s["Sid"] != "MountStore"}
    assert set(statements) == set(shared) | {"UseTable"}, statements
    for sid, s in shared.items():
        assert statements[sid] == s, sid
    use = statements["UseTable"]
    assert use["Effect"] == "Allow" and use["Action"] == TABLE_ACTIONS, use
    assert use["Resource"] == {"Fn::GetAtt": ["Table", "Arn"]}, use
    assert not any("dynamodb" in json.dumps(s) for s in shared.values())
    # Two services, each of at most one task of its slot, never two at once; b after a.
    redb_service = rendered(template, "redb", layout)["Service"]
    for name, slot, subnet in (("ServiceA", "a", "SubnetA"), ("ServiceB", "b", "SubnetB")):
        svc = res[name]
        p = svc["Properties"]
        assert p["TaskDefinition"] == ref(f"TaskDefinition{slot.upper()}"), p
        assert p["ServiceName"] == {"Fn::Sub": f"${{AWS::StackName}}-{slot}"}, p
        assert p["DesiredCount"] == ref("DesiredCount")
        assert p["LaunchType"] == "FARGATE"
        assert p["DeploymentConfiguration"] == redb_service["Properties"]["DeploymentConfiguration"], p
        assert p["DeploymentConfiguration"]["MinimumHealthyPercent"] == 0
        assert p["DeploymentConfiguration"]["MaximumPercent"] == 100
        net = p["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert net["Subnets"] == [ref(subnet)], net
        assert net["SecurityGroups"] == [ref("TaskSecurityGroup")]
        assert "TaskPolicyDynamo" in svc["DependsOn"], svc
    assert "ServiceA" in res["ServiceB"]["DependsOn"], res["ServiceB"]
    assert "ServiceB" not in res["ServiceA"].get("DependsOn", [])
    # DesiredCount stays 0 or 1: one task per service, which is one per slot.
    assert template["Parameters"]["DesiredCount"]["AllowedValues"] == [0, 1]
    # Each slot's task is the redb task but for the store: no volume, no mount, the table and
    # its slot instead of the file (a server container beside the watching one has a slot of
    # its own); otherwise alike, so that slot b is no older than slot a.
    redb_td = rendered(template, "redb", layout)["TaskDefinition"]["Properties"]
    for slot in ("a", "b"):
        td = res[f"TaskDefinition{slot.upper()}"]["Properties"]
        assert td["Family"] == {"Fn::Sub": f"${{AWS::StackName}}-{slot}"}, td["Family"]
        assert "Volumes" not in td
        expected = {k: v for k, v in redb_td.items() if k not in ("Family", "Volumes")}
        expected["ContainerDefinitions"] = []
        for c in redb_td["ContainerDefinitions"]:
            c = {k: v for k, v in c.items() if k != "MountPoints"}
            env = []
            for e in c["Environment"]:
                if e["Name"] == "CERTHOUND_STORE__PATH":
                    env += [
                        {"Name": "CERTHOUND_STORE__BACKEND", "Value": "dynamodb"},
                        {"Name": "CERTHOUND_STORE__DYNAMODB__TABLE", "Value": ref("Table")},
                        {
                            "Name": "CERTHOUND_STORE__DYNAMODB__SLOT",
                            "Value": f"{slot}-server" if c["Name"] == "server" else slot,
                        },
                    ]
                else:
                    env.append(e)
            expected["ContainerDefinitions"].append(dict(c, Environment=env))
        assert {k: v for k, v in td.items() if k != "Family"} == expected, (slot, layout)
        for c in td["ContainerDefinitions"]:
            container_checks(c)


def client(service, endpoint):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def create(endpoint, body, layout, email, backend):
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
        "StoreBackend": backend,
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
    return resources, outputs, sg, subnets


def moto_checks(endpoint, resources, outputs, sg, layout, email):
    """What both backends share; returns the task definition (redb) or the slots' (dynamodb)."""
    topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{STACK}-alerts"
    assert outputs["AlertTopicArn"] == topic_arn, outputs
    sns = client("sns", endpoint)
    subs = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subs] == ([("email", email)] if email else []), subs
    [group] = client("logs", endpoint).describe_log_groups(logGroupNamePrefix=f"/ecs/{STACK}")["logGroups"]
    assert group["retentionInDays"] == 14, group
    assert client("ecr", endpoint).describe_repositories(repositoryNames=[STACK])["repositories"]
    assert client("ecs", endpoint).describe_clusters(clusters=[STACK])["clusters"][0]["status"] == "ACTIVE"
    # The secrets have no values: nothing in the template gives one. moto does not create
    # them, so what the runbook does (create/put-secret-value) is what the Rust test does.
    assert client("secretsmanager", endpoint).list_secrets()["SecretList"] == []
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
    return statements


def container_moto_checks(c, outputs, layout):
    """A container as ECS would run it."""
    topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{STACK}-alerts"
    assert c["image"] == f"{outputs['RepositoryUri']}:latest", c["image"]
    assert c["stopTimeout"] == 40 and c["user"] == "10001:10001", c
    assert c["healthCheck"]["command"] == ["CMD", "/usr/local/bin/certhound", "health"], c
    assert c["logConfiguration"]["options"]["awslogs-group"] == f"/ecs/{STACK}", c
    env = {e["name"]: e["value"] for e in c["environment"]}
    if c["name"] != "server":
        assert env["CERTHOUND_NOTIFY__SNS__TOPIC_ARN"] == topic_arn, env
    return env


def redb_moto_checks(endpoint, resources, outputs, sg, layout, statements):
    """The redb stack: EFS, one service, no table."""
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
    assert set(statements) == {"PublishAlerts", "ReadSecrets", "MountStore"}, statements
    assert statements["MountStore"]["Resource"].endswith(f"file-system/{fs['FileSystemId']}"), statements
    assert client("dynamodb", endpoint).list_tables()["TableNames"] == []
    assert "TableName" not in outputs and "ServiceBName" not in outputs, outputs
    # One service, of the task definition below.
    ecs = client("ecs", endpoint)
    assert ecs.list_services(cluster=STACK)["serviceArns"] == [resources["Service"]], resources
    [svc] = ecs.describe_services(cluster=STACK, services=[STACK])["services"]
    assert svc["desiredCount"] == 0 and svc["taskDefinition"] == resources["TaskDefinition"], svc
    # The task definition as ECS would run it.
    td = ecs.describe_task_definition(taskDefinition=resources["TaskDefinition"])["taskDefinition"]
    assert td["family"] == STACK, td["family"]
    names = [c["name"] for c in td["containerDefinitions"]]
    assert names == (["certhound"] if layout == "run" else ["server", "watch"]), names
    for c in td["containerDefinitions"]:
        env = container_moto_checks(c, outputs, layout)
        assert env["CERTHOUND_STORE__PATH"].startswith("/data/"), env
        assert "CERTHOUND_STORE__BACKEND" not in env, env
    return td["containerDefinitions"]


def dynamo_moto_checks(endpoint, resources, outputs, subnets, layout, statements):
    """The dynamodb stack: the table as the store needs it, its actions on it alone, two
    services (slots a and b) each on its subnet, no EFS."""
    ddb = client("dynamodb", endpoint)
    assert ddb.list_tables()["TableNames"] == [STACK]
    assert outputs["TableName"] == STACK, outputs
    table = ddb.describe_table(TableName=STACK)["Table"]
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ], table
    assert sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ], table
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST", table
    assert not table.get("GlobalSecondaryIndexes") and not table.get("LocalSecondaryIndexes"), table
    # moto's CloudFormation does not pass TimeToLiveSpecification on (the static checks read
    # it); should a later moto do so, it must be `ttl`.
    ttl = ddb.describe_time_to_live(TableName=STACK)["TimeToLiveDescription"]
    if ttl["TimeToLiveStatus"] != "DISABLED":
        assert ttl["AttributeName"] == "ttl" and ttl["TimeToLiveStatus"] in ("ENABLED", "ENABLING"), ttl
    # The policy: alerts, secrets, and exactly the store's actions on exactly this table.
    assert set(statements) == {"PublishAlerts", "ReadSecrets", "UseTable"}, statements
    use = statements["UseTable"]
    assert use["Effect"] == "Allow" and use["Action"] == TABLE_ACTIONS, use
    assert use["Resource"] == table["TableArn"], (use, table["TableArn"])
    # No EFS at all.
    assert client("efs", endpoint).describe_file_systems()["FileSystems"] == []
    assert "FileSystemId" not in outputs, outputs
    # Two services, slots a and b, one per subnet, each of its own task definition.
    ecs = client("ecs", endpoint)
    assert sorted(ecs.list_services(cluster=STACK)["serviceArns"]) == sorted(
        [resources["ServiceA"], resources["ServiceB"]]
    ), resources
    assert outputs["ServiceName"] == f"{STACK}-a" and outputs["ServiceBName"] == f"{STACK}-b", outputs
    by_slot = {}
    for slot, subnet in (("a", subnets[0]), ("b", subnets[1])):
        [svc] = ecs.describe_services(cluster=STACK, services=[f"{STACK}-{slot}"])["services"]
        assert svc["desiredCount"] == 0, svc
        assert svc["taskDefinition"] == resources[f"TaskDefinition{slot.upper()}"], svc
        # moto keeps a service's network configuration only when it models it.
        net = svc.get("networkConfiguration", {}).get("awsvpcConfiguration")
        if net:
            assert net["subnets"] == [subnet], net
        td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        assert td["family"] == f"{STACK}-{slot}", td["family"]
        assert not td.get("volumes"), td
        names = [c["name"] for c in td["containerDefinitions"]]
        assert names == (["certhound"] if layout == "run" else ["server", "watch"]), names
        for c in td["containerDefinitions"]:
            env = container_moto_checks(c, outputs, layout)
            assert not c.get("mountPoints"), c
            assert "CERTHOUND_STORE__PATH" not in env, env
            assert env["CERTHOUND_STORE__BACKEND"] == "dynamodb", env
            assert env["CERTHOUND_STORE__DYNAMODB__TABLE"] == STACK, env
            expected = f"{slot}-server" if c["name"] == "server" else slot
            assert env["CERTHOUND_STORE__DYNAMODB__SLOT"] == expected, env
        by_slot[slot] = td["containerDefinitions"]
    # Every process of the stack on a slot of its own.
    slots = [
        {e["name"]: e["value"] for e in c["environment"]}["CERTHOUND_STORE__DYNAMODB__SLOT"]
        for cs in by_slot.values()
        for c in cs
    ]
    assert len(set(slots)) == len(slots), slots
    return by_slot


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--template", required=True)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--keep", choices=["redb", "dynamodb"], default="redb")
    args = ap.parse_args()
    template, matches = decode(args.template)
    assert not matches, matches
    static_checks(template)
    body = open(args.template).read()
    # {layout: containers} for redb, {"dynamodb": {slot: {layout: containers}}}.
    out = {"dynamodb": {"a": {}, "b": {}}}
    other = "dynamodb" if args.keep == "redb" else "redb"
    runs = [(b, layout, email) for b in (other, args.keep) for layout, email in (("server-and-watch", "soc@example.com"), ("run", ""))]
    for backend, layout, email in runs:
        resources, outputs, sg, subnets = create(args.endpoint, body, layout, email, backend)
        statements = moto_checks(args.endpoint, resources, outputs, sg, layout, email)
        if backend == "redb":
            out[layout] = redb_moto_checks(args.endpoint, resources, outputs, sg, layout, statements)
        else:
            for slot, containers in dynamo_moto_checks(args.endpoint, resources, outputs, subnets, layout, statements).items():
                out["dynamodb"][slot][layout] = containers
    # The last stack (the run layout's, of the --keep backend) stays in moto for the caller.
    with open(f"{args.out}/task-definitions.json", "w") as f:
        json.dump(out, f, indent=1)
    print("stack OK: both backends and both layouts created in moto; static checks passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        import traceback

        traceback.print_exc()
        sys.exit(1)
