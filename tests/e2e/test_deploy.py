"""End-to-end: the deployment files in deploy/ are kept correct against the
current commands.

- Every systemd unit passes `systemd-analyze verify` (with the binary path
  pointed at the mts under test).
- Every mts command line in deploy/ (ExecStart=, the compose services'
  `command:`, the Dockerfile's CMD, the containers of the Kubernetes manifests
  in deploy/k8s/ — the image's ENTRYPOINT plus `args:` — and the commands
  deploy/README.md and the files' headers show) names an existing command and
  only options that command's --help (of the binary under test) lists;
  `$VAR` words must be set by the unit's own Environment= lines or documented
  in its header.
- The Kubernetes manifests and compose.yaml agree with each other: names of
  Services, ConfigMaps, Secrets, volume claims and ports resolve; the Redis URL
  names the Redis service and port; every environment variable given to mts is
  one the binary reads; files on mts command lines are on mounted volumes;
  probes hit /health on the port mts serve listens on; the worker scales
  (Deployment, no host ports, no single-node volume; compose: no container
  name, no published port) and the serve database is on a claim with one
  replica.
"""
import os
import re
import json
import shlex
import shutil
import subprocess

import yaml

from mtslib import MTS, ROOT, MtsTestCase, run

DEPLOY = os.path.join(ROOT, "deploy")
UNITS = os.path.join(DEPLOY, "systemd")
K8S = os.path.join(DEPLOY, "k8s")
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")


def unit_files():
    return sorted(os.path.join(UNITS, f) for f in os.listdir(UNITS) if f.endswith(".service"))


def unit_directives(path):
    """[(section, key, value)] of a unit file (comments and blank lines skipped,
    backslash continuations joined)."""
    out, section, pending = [], None, ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if pending:
                line = pending + line
                pending = ""
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            s = line.strip()
            if not s or s[0] in "#;":
                continue
            if s.startswith("[") and s.endswith("]"):
                section = s[1:-1]
                continue
            k, _, v = s.partition("=")
            out.append((section, k.strip(), v.strip()))
    return out


def help_text(command):
    r = run([command, "--help"])
    return r.returncode, r.stdout + r.stderr


def help_options(text):
    """The options a --help lists: the --words of its usage line and of the
    lines of its option list (a line that starts with an option)."""
    opts = set()
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("usage:") or s.startswith("--") or re.match(r"-\w,\s+--", s):
            opts.update(re.findall(r"(?<![\w-])(--[a-z0-9][a-z0-9-]*)", line))
    return opts


# ---- Kubernetes manifests (deploy/k8s) ----

def k8s_files():
    return sorted(os.path.join(K8S, f) for f in os.listdir(K8S) if f.endswith((".yaml", ".yml")))


def k8s_documents():
    """[(file name, document)] of every manifest (not the kustomization)."""
    out = []
    for path in k8s_files():
        if os.path.basename(path) == "kustomization.yaml":
            continue
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc is not None:
                    out.append((os.path.basename(path), doc))
    return out


def k8s_kustomization():
    with open(os.path.join(K8S, "kustomization.yaml")) as f:
        return yaml.safe_load(f)


def k8s_named(docs, kind):
    return {d["metadata"]["name"]: d for _, d in docs if d.get("kind") == kind}


def pod_templates(docs):
    """(where, workload document, pod template) of every workload."""
    for fname, d in docs:
        if d.get("kind") in WORKLOADS:
            yield "%s %s/%s" % (fname, d["kind"], d["metadata"]["name"]), d, d["spec"]["template"]


def image_name(image):
    """'registry:5000/team/mts:1.2' -> 'mts'."""
    return image.split("@")[0].rsplit("/", 1)[-1].split(":")[0]


def dockerfile_json(instruction):
    """The exec-form list of the Dockerfile's (last) ENTRYPOINT or CMD."""
    val = None
    with open(os.path.join(DEPLOY, "Dockerfile")) as f:
        for line in f:
            m = re.match(r"%s\s+(\[.*\])\s*$" % instruction, line.strip())
            if m:
                val = json.loads(m.group(1))
    return val


def container_env(container, docs):
    """{NAME: value} of a container's environment: its envFrom ConfigMaps' keys,
    then env: (a valueFrom is None). Raises KeyError for a ConfigMap that no
    manifest defines."""
    maps = k8s_named(docs, "ConfigMap")
    env = {}
    for src in container.get("envFrom", []):
        if "configMapRef" in src:
            env.update(maps[src["configMapRef"]["name"]].get("data", {}))
    for e in container.get("env", []):
        env[e["name"]] = e.get("value")
    return env


def k8s_argv(container, docs):
    """The container's command line as Kubernetes builds it: command: (else the
    image's ENTRYPOINT) + args: (else, without command:, the image's CMD), each
    $(VAR) replaced from the container's environment. [] for a foreign image."""
    if image_name(container["image"]) != "mts":
        return []
    entry = container.get("command") or dockerfile_json("ENTRYPOINT")
    args = container.get("args")
    if args is None:
        args = [] if container.get("command") else dockerfile_json("CMD")
    env = container_env(container, docs)

    def value(name):       # a valueFrom (the pod's name, ...) is known only in the pod
        if name not in env:
            return "<undefined %s>" % name
        return env[name] if env[name] is not None else "<%s of the pod>" % name

    def expand(w):
        return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: value(m.group(1)), w)
    return [expand(str(w)) for w in list(entry) + list(args)]


def k8s_mts_containers(docs):
    """(where, pod template, container, argv after mts) of every mts container."""
    for where, d, tmpl in pod_templates(docs):
        spec = tmpl["spec"]
        for c in spec.get("initContainers", []) + spec["containers"]:
            argv = k8s_argv(c, docs)
            if argv:
                yield "%s container %s" % (where, c["name"]), tmpl, c, argv


def documented_commands():
    """(where, argv after mts) of the mts command lines deploy/README.md and the
    headers of the deployment files show: `mts CMD ...`, `docker compose ... run
    --rm mts CMD ...`, `kubectl ... exec ... -- mts CMD ...` (continuation
    lines joined; up to a pipe, ;, && or a redirection)."""
    _, top = help_text("--help")
    commands = set(re.findall(r"(?m)^  ([a-z]+)\s{2,}\S", top))
    paths = [os.path.join(DEPLOY, "README.md"), os.path.join(DEPLOY, "compose.yaml"),
             os.path.join(DEPLOY, "Dockerfile")] + unit_files() + k8s_files()
    found = []
    for path in paths:
        with open(path) as f:
            lines = f.read().splitlines()
        joined, acc = [], ""
        for line in lines:
            t = re.sub(r"^\s*#\s?", "", line) if not path.endswith(".md") else line
            if acc:
                t = acc + " " + t.strip()
            if t.rstrip().endswith("\\"):
                acc = t.rstrip()[:-1]
                continue
            acc = ""
            joined.append(t)
        for t in joined:
            toks = t.split()
            for i, tok in enumerate(toks[:-1]):
                if tok.strip("`(\"'").rsplit("/", 1)[-1] != "mts":
                    continue
                cmd = toks[i + 1].strip("`\"'")
                if cmd not in commands:
                    continue
                words = [cmd]
                if not toks[i + 1].endswith("`"):
                    for w in toks[i + 2:]:
                        if w in ("|", ";", "&&", "||") or w[0] in "<>#" or w.startswith("2>"):
                            break
                        words.append(w.strip("`()\"',.;:"))
                        if "`" in w or w.rstrip(",.;:").endswith(")"):
                            break
                found.append(("%s: %s" % (os.path.relpath(path, ROOT), t.strip()), words))
    return found


def unit_environment(path):
    """The variables a unit defines: its Environment= lines, then the example
    settings its header documents ("#   MTS_RUN_ARGS=--strategy ...")."""
    env = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"#\s+([A-Z][A-Z0-9_]*)=(.+)$", line.rstrip("\n"))
            if m and m.group(1) not in env:
                env[m.group(1)] = m.group(2).strip()
    for section, k, v in unit_directives(path):
        if k == "Environment":
            for w in shlex.split(v):
                name, _, val = w.partition("=")
                env[name] = val
    return env


def expand_exec(value, env):
    """ExecStart= words as systemd builds them: ${VAR} is replaced inside a word,
    a word that is exactly $VAR is split at whitespace."""
    words = []
    for w in shlex.split(value):
        m = re.fullmatch(r"\$([A-Z_][A-Z0-9_]*)", w)
        if m:
            words.extend(env.get(m.group(1), "").split())
        else:
            words.append(re.sub(r"\$\{([A-Z_][A-Z0-9_]*)\}", lambda g: env.get(g.group(1), ""), w))
    return words


def mts_invocations():
    """(where, argv after 'mts') for every mts command line in deploy/."""
    found = []
    for path in unit_files():
        env = dict(unit_environment(path), CREDENTIALS_DIRECTORY="/run/credentials/x")
        for section, k, v in unit_directives(path):
            if section == "Service" and k in ("ExecStart", "ExecReload", "ExecStop") and "/mts " in v + " ":
                words = expand_exec(v, env)
                i = next(n for n, w in enumerate(words) if w.endswith("/mts"))
                found.append(("%s %s" % (os.path.basename(path), k), words[i + 1:]))
    with open(os.path.join(DEPLOY, "compose.yaml")) as f:
        compose = yaml.safe_load(f)
    for name, svc in compose["services"].items():
        if svc.get("image", "").startswith("mts") and "command" in svc:
            found.append(("compose.yaml service %s" % name, list(svc["command"])))
    found.append(("Dockerfile CMD", dockerfile_json("CMD")))
    docs = k8s_documents()
    for where, tmpl, c, argv in k8s_mts_containers(docs):
        found.append((where, argv[1:]))
    return found


class DeployFilesTest(MtsTestCase):

    def test_units_pass_systemd_analyze_verify(self):
        sa = shutil.which("systemd-analyze")
        self.assertIsNotNone(sa, "systemd-analyze not found (make deps installs systemd)")
        self.assertGreaterEqual(len(unit_files()), 3)
        for path in unit_files():
            name = os.path.basename(path)
            if name.endswith("@.service"):
                name = name.replace("@.service", "@test.service")
            with open(path) as f:
                text = f.read().replace("/usr/local/bin/mts", MTS)
            dst = os.path.join(self.tmp, name)
            with open(dst, "w") as f:
                f.write(text)
            r = subprocess.run([sa, "verify", dst], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, "%s:\n%s%s" % (name, r.stdout, r.stderr))
            self.assertNotIn(os.path.basename(dst), r.stderr, r.stderr)   # no warnings about it

    def test_units_for_run_serve_and_collect(self):
        execs = {os.path.basename(p): [v for s, k, v in unit_directives(p) if k == "ExecStart"]
                 for p in unit_files()}
        cmds = {name: shlex.split(e[0])[1] for name, e in execs.items()}
        self.assertEqual(cmds.get("mts-serve.service"), "serve")
        self.assertEqual(cmds.get("mts-run@.service"), "run")
        self.assertEqual(cmds.get("mts-collect.service"), "collect")

    def assert_match_help(self, invocations, helps):
        for where, argv in invocations:
            self.assertTrue(argv, where)
            cmd = argv[0]
            if cmd.startswith("-"):          # Dockerfile CMD ["--help"]
                self.assertEqual(run([cmd]).returncode, 0, where)
                continue
            if cmd not in helps:
                helps[cmd] = help_text(cmd)
            rc, text = helps[cmd]
            self.assertEqual(rc, 0, "%s: mts %s --help failed:\n%s" % (where, cmd, text))
            listed = help_options(text)
            self.assertTrue(listed, "mts %s --help lists no options:\n%s" % (cmd, text))
            for w in argv[1:]:
                if w.startswith("--"):
                    opt = w.split("=", 1)[0]
                    self.assertIn(opt, listed, "%s: mts %s --help lists no option %s (it lists %s)"
                                  % (where, cmd, opt, " ".join(sorted(listed))))

    def test_every_command_line_matches_help(self):
        invocations = mts_invocations()
        wheres = " ".join(w for w, _ in invocations)
        for must in ("mts-worker@.service", "compose.yaml service worker", "Deployment/mts-worker",
                     "Deployment/mts-serve"):
            self.assertIn(must, wheres)
        self.assertGreaterEqual(len(invocations), 9, invocations)
        self.assert_match_help(invocations, {})

    def test_documented_command_lines_match_help(self):
        """The commands deploy/README.md and the files' headers tell people to
        type use only options --help lists."""
        documented = documented_commands()
        self.assertGreaterEqual(len(documented), 10, documented)
        self.assert_match_help(documented, {})

    def test_help_options_reader(self):
        """help_options, on a help of the house style: the usage line and the
        option list count, an option named in a description does not."""
        text = ("usage: mts x --a LIST [options]\n\nDoes x; see also mts y --b.\n\noptions:\n"
                "  --c N        the c (default 1; like --d)\n  --e --f X    both\n"
                "               wraps, naming --g\n\nexamples:\n  mts x --a 1 --h\n")
        self.assertEqual(help_options(text), {"--a", "--c", "--d", "--e", "--f"})

    def test_worker_unit(self):
        """mts-worker@.service: one worker per instance, consumer name unique
        across machines (host name + instance), a database of its own."""
        path = os.path.join(UNITS, "mts-worker@.service")
        execs = [v for s, k, v in unit_directives(path) if k == "ExecStart"]
        self.assertEqual(len(execs), 1)
        words = shlex.split(execs[0])
        self.assertEqual(words[1], "worker")
        opts = dict(zip(words[2::2], words[3::2]))
        self.assertIn("%H", opts["--name"])
        self.assertIn("%i", opts["--name"])
        self.assertIn("%i", opts["--db"])
        self.assertTrue(opts["--db"].startswith("/var/lib/mts/"))     # StateDirectory=mts, ReadWritePaths=
        self.assertEqual(unit_environment(path)["DATABASE_PATH"], opts["--db"])

    def test_variable_words_are_defined(self):
        for path in unit_files():
            directives = unit_directives(path)
            env = unit_environment(path)
            for s, k, v in directives:
                if k != "ExecStart":
                    continue
                for var in re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)\}?", v):
                    if var == "CREDENTIALS_DIRECTORY":
                        self.assertTrue(any(k2 == "LoadCredential" for _, k2, _ in directives), path)
                        continue
                    self.assertIn(var, env, "%s: $%s is neither set by Environment= nor documented" % (path, var))


def redis_url_target(url):
    """'redis://host:6379/0' -> ('host', 6379)."""
    m = re.fullmatch(r"rediss?://(?:[^@/]*@)?([A-Za-z0-9.-]+)(?::(\d+))?(?:/\d+)?", url)
    assert m, "not a redis URL: %r" % url
    return m.group(1), int(m.group(2) or 6379)


def binary_reads(name):
    """Whether the mts under test reads environment variable `name`: the name is
    a string constant in the binary (getenv("NAME"))."""
    with open(MTS, "rb") as f:
        data = f.read()
    return name.encode() + b"\0" in data


class K8sManifestsTest(MtsTestCase):
    """deploy/k8s: redis, serve and worker, consistent with each other, with
    the image compose uses and with what mts reads."""

    def setUp(self):
        super().setUp()
        self.docs = k8s_documents()
        self.kinds = {(d["kind"], d["metadata"]["name"]) for _, d in self.docs}

    def test_kustomization_lists_every_manifest(self):
        k = k8s_kustomization()
        self.assertEqual(k["kind"], "Kustomization")
        files = sorted(os.path.basename(p) for p in k8s_files() if not p.endswith("kustomization.yaml"))
        self.assertEqual(sorted(k["resources"]), files)
        ns = k8s_named(self.docs, "Namespace")
        self.assertIn(k["namespace"], ns)
        for _, d in self.docs:      # the kustomization sets the namespace: none hard-coded elsewhere
            self.assertNotIn("namespace", d["metadata"], d["metadata"])
        # the image's name as compose.yaml builds and uses it
        with open(os.path.join(DEPLOY, "compose.yaml")) as f:
            compose = yaml.safe_load(f)
        compose_images = {svc["image"] for svc in compose["services"].values()
                          if image_name(svc.get("image", "")) == "mts"}
        self.assertEqual(len(compose_images), 1, compose_images)
        compose_image = compose_images.pop()
        mts_images = {c["image"] for _, _, c, _ in k8s_mts_containers(self.docs)}
        self.assertEqual(mts_images, {compose_image})
        self.assertEqual([i["name"] for i in k.get("images", [])], ["mts"])

    def test_kubectl_kustomize_builds(self):
        """When kubectl is installed (it is not a dependency): `kubectl kustomize`
        builds the same objects, all in the namespace."""
        kubectl = shutil.which("kubectl")
        if not kubectl:
            self.skipTest("kubectl not installed (optional; the other checks read the files)")
        r = subprocess.run([kubectl, "kustomize", K8S], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        built = [d for d in yaml.safe_load_all(r.stdout) if d]
        self.assertEqual({(d["kind"], d["metadata"]["name"]) for d in built}, self.kinds)
        ns = k8s_kustomization()["namespace"]
        for d in built:
            if d["kind"] != "Namespace":
                self.assertEqual(d["metadata"].get("namespace"), ns, d["metadata"])

    def test_workloads_redis_serve_worker(self):
        for kind, name in (("StatefulSet", "redis"), ("Service", "redis"), ("Deployment", "mts-serve"),
                           ("Service", "mts-serve"), ("Deployment", "mts-worker"),
                           ("PersistentVolumeClaim", "mts-data"), ("ConfigMap", "mts-env")):
            self.assertIn((kind, name), self.kinds)
        cmds = {}
        for where, tmpl, c, argv in k8s_mts_containers(self.docs):
            self.assertEqual(os.path.basename(argv[0]), "mts", where)
            cmds[where.split()[1]] = argv[1]
        self.assertEqual(cmds.get("Deployment/mts-serve"), "serve")
        self.assertEqual(cmds.get("Deployment/mts-worker"), "worker")

    def test_selectors_and_services_resolve(self):
        pods = list(pod_templates(self.docs))
        for where, d, tmpl in pods:
            labels = tmpl["metadata"]["labels"]
            sel = d["spec"]["selector"]["matchLabels"]
            self.assertTrue(sel and all(labels.get(k) == v for k, v in sel.items()), where)
            if d["kind"] == "StatefulSet":
                self.assertIn(("Service", d["spec"]["serviceName"]), self.kinds, where)
        for name, svc in k8s_named(self.docs, "Service").items():
            sel = svc["spec"]["selector"]
            matched = [(w, t) for w, _, t in pods
                       if all(t["metadata"]["labels"].get(k) == v for k, v in sel.items())]
            self.assertEqual(len(matched), 1, "Service %s selects %s" % (name, [w for w, _ in matched]))
            ports = [p for c in matched[0][1]["spec"]["containers"] for p in c.get("ports", [])]
            for sp in svc["spec"]["ports"]:
                tp = sp.get("targetPort", sp["port"])
                hit = [p for p in ports if p.get("name") == tp or p["containerPort"] == tp]
                self.assertEqual(len(hit), 1, "Service %s port %s: no such container port" % (name, tp))
                if svc["spec"].get("clusterIP") == "None":     # headless: clients dial the pod's port
                    self.assertEqual(sp["port"], hit[0]["containerPort"], name)

    def test_redis_url_names_the_redis_service(self):
        urls = []
        for _, d in self.docs:
            if d["kind"] == "ConfigMap":
                urls += [v for k, v in d.get("data", {}).items() if k == "REDIS_URL"]
        for where, tmpl, c, argv in k8s_mts_containers(self.docs):
            urls += [argv[i + 1] for i, w in enumerate(argv[:-1]) if w == "--redis"]
        self.assertGreaterEqual(len(urls), 2, urls)
        services = k8s_named(self.docs, "Service")
        for url in urls:
            host, port = redis_url_target(url)
            self.assertIn(host, services, url)
            self.assertIn(port, [p["port"] for p in services[host]["spec"]["ports"]], url)
            sel = services[host]["spec"]["selector"]
            images = [c["image"] for _, _, t in pod_templates(self.docs)
                      if all(t["metadata"]["labels"].get(k) == v for k, v in sel.items())
                      for c in t["spec"]["containers"]]
            self.assertTrue(images and image_name(images[0]) == "redis", (url, images))

    def test_references_resolve(self):
        """ConfigMaps, Secrets, claims and volumes named anywhere exist; a Secret
        not in the manifests is created by a command deploy/README.md shows,
        with the keys the pods use."""
        with open(os.path.join(DEPLOY, "README.md")) as f:
            readme = f.read()
        maps, claims = k8s_named(self.docs, "ConfigMap"), k8s_named(self.docs, "PersistentVolumeClaim")
        secrets = k8s_named(self.docs, "Secret")

        def secret_has(name, key, where):
            if name in secrets:
                data = dict(secrets[name].get("data", {}), **secrets[name].get("stringData", {}))
                self.assertIn(key, data, where)
                return
            self.assertTrue(re.search(r"kubectl\b[^\n]*create secret generic %s\b[^\n]*--from-\w+=%s="
                                      % (re.escape(name), re.escape(key)), readme),
                            "%s: Secret %s (key %s) is neither a manifest nor created in deploy/README.md"
                             % (where, name, key))

        for where, d, tmpl in pod_templates(self.docs):
            spec = tmpl["spec"]
            vols = {v["name"]: v for v in spec.get("volumes", [])}
            claim_templates = {t["metadata"]["name"] for t in d["spec"].get("volumeClaimTemplates", [])}
            for v in vols.values():
                if "persistentVolumeClaim" in v:
                    self.assertIn(v["persistentVolumeClaim"]["claimName"], claims, where)
                if "configMap" in v:
                    self.assertIn(v["configMap"]["name"], maps, where)
                if "secret" in v:
                    for item in v["secret"].get("items", []):
                        secret_has(v["secret"]["secretName"], item["key"], where)
            for c in spec["containers"] + spec.get("initContainers", []):
                for m in c.get("volumeMounts", []):
                    self.assertTrue(m["name"] in vols or m["name"] in claim_templates,
                                    "%s: volumeMount %s has no volume" % (where, m["name"]))
                for src in c.get("envFrom", []):
                    if "configMapRef" in src:
                        self.assertIn(src["configMapRef"]["name"], maps, where)
                    if "secretRef" in src:
                        self.assertIn(src["secretRef"]["name"], secrets, where)
                for e in c.get("env", []):
                    vf = e.get("valueFrom", {})
                    if "secretKeyRef" in vf:
                        secret_has(vf["secretKeyRef"]["name"], vf["secretKeyRef"]["key"], where)
                    if "configMapKeyRef" in vf:
                        self.assertIn(vf["configMapKeyRef"]["key"],
                                      maps[vf["configMapKeyRef"]["name"]].get("data", {}), where)

    def test_mts_environment_is_read_by_mts(self):
        """Every variable an mts container gets is one mts reads, or one its
        command line uses as $(VAR); every $(VAR) is defined."""
        self.assertTrue(binary_reads("DATABASE_PATH") and binary_reads("REDIS_URL"))
        self.assertFalse(binary_reads("MTS_NO_SUCH_SETTING"))
        for where, tmpl, c, argv in k8s_mts_containers(self.docs):
            env = container_env(c, self.docs)
            raw = " ".join(str(w) for w in (c.get("command") or []) + (c.get("args") or []))
            used = set(re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", raw))
            for name in used:
                self.assertIn(name, env, "%s: $(%s) is not in the container's environment" % (where, name))
            for name in env:
                self.assertTrue(name in used or binary_reads(name),
                                "%s: mts does not read %s" % (where, name))
            self.assertNotIn("<undefined", " ".join(argv), where)

    def test_files_on_command_lines_are_on_volumes(self):
        """An absolute path given to mts lies on one of the container's volumes
        (a database on a writable one; a secret's file is one of its items),
        and DATABASE_PATH is the --db given."""
        checked = 0
        for where, tmpl, c, argv in k8s_mts_containers(self.docs):
            vols = {v["name"]: v for v in tmpl["spec"].get("volumes", [])}
            mounts = c.get("volumeMounts", [])
            for i, w in enumerate(argv[:-1]):
                val = argv[i + 1]
                if not (w.startswith("--") and val.startswith("/")):
                    continue
                under = [m for m in mounts if val.startswith(m["mountPath"].rstrip("/") + "/")]
                self.assertEqual(len(under), 1, "%s: %s %s is on no volume" % (where, w, val))
                m, rel = under[0], val[len(under[0]["mountPath"].rstrip("/")) + 1:]
                vol = vols[m["name"]]
                if "secret" in vol:
                    self.assertIn(rel, [it["path"] for it in vol["secret"]["items"]], where)
                if w == "--db":
                    self.assertFalse(m.get("readOnly"), where)
                    self.assertTrue({"persistentVolumeClaim", "emptyDir"} & set(vol), where)
                    env = container_env(c, self.docs)
                    self.assertEqual(env.get("DATABASE_PATH"), val, where)
                checked += 1
        self.assertGreaterEqual(checked, 3)

    def test_serve_probes_resources_and_secret(self):
        deps = k8s_named(self.docs, "Deployment")
        serve = deps["mts-serve"]
        c, = [c for c in serve["spec"]["template"]["spec"]["containers"]
              if k8s_argv(c, self.docs)[1:2] == ["serve"]]
        argv = k8s_argv(c, self.docs)
        port = int(argv[argv.index("--port") + 1])
        self.assertEqual(argv[argv.index("--host") + 1], "0.0.0.0")    # reachable from the kubelet and the Service
        ports = {p.get("name"): p["containerPort"] for p in c["ports"]}
        self.assertIn(port, ports.values())
        for probe in ("readinessProbe", "livenessProbe"):
            get = c[probe]["httpGet"]
            self.assertEqual(get["path"], "/health", probe)
            self.assertEqual(ports.get(get["port"], get["port"]), port, probe)
        self.assertIn("--jwt-secret-file", argv)         # the secret as a file, never in the environment
        self.assertNotIn("MTS_JWT_SECRET", container_env(c, self.docs))
        # a SQLite database on a single-node claim: one replica, replaced with Recreate
        claims = k8s_named(self.docs, "PersistentVolumeClaim")
        self.assertIn("ReadWriteOnce", claims["mts-data"]["spec"]["accessModes"])
        self.assertEqual(serve["spec"]["replicas"], 1)
        self.assertEqual(serve["spec"]["strategy"]["type"], "Recreate")
        # grace: mts serve waits --grace (default 30 s) for requests in flight
        self.assertGreater(serve["spec"]["template"]["spec"]["terminationGracePeriodSeconds"], 30)
        for where, d, tmpl in pod_templates(self.docs):
            for ct in tmpl["spec"]["containers"]:
                for kind in ("requests", "limits"):
                    self.assertTrue({"cpu", "memory"} <= set(ct.get("resources", {}).get(kind, {})),
                                    "%s %s: resources.%s" % (where, ct["name"], kind))

    def test_worker_scales(self):
        """kubectl scale deployment/mts-worker --replicas=N: a Deployment with
        no host port and no volume tied to one node or shared between pods."""
        w = k8s_named(self.docs, "Deployment")["mts-worker"]
        self.assertGreaterEqual(w["spec"]["replicas"], 1)
        spec = w["spec"]["template"]["spec"]
        for c in spec["containers"]:
            for p in c.get("ports", []):
                self.assertNotIn("hostPort", p)
        self.assertFalse(spec.get("hostNetwork"))
        for v in spec.get("volumes", []):
            self.assertNotIn("persistentVolumeClaim", v)
            self.assertNotIn("hostPath", v)
        argv = k8s_argv(spec["containers"][0], self.docs)
        self.assertIn("--name", argv)                     # the consumer name is the pod's (unique)
        name_arg = spec["containers"][0]["args"][spec["containers"][0]["args"].index("--name") + 1]
        var = re.fullmatch(r"\$\((\w+)\)", name_arg).group(1)
        ref = [e for e in spec["containers"][0]["env"] if e["name"] == var][0]
        self.assertEqual(ref["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name")
        with open(os.path.join(DEPLOY, "README.md")) as f:
            self.assertTrue("kubectl -n mts scale deployment/mts-worker --replicas=" in f.read(),
                            "deploy/README.md shows no kubectl scale")


class ComposeTest(MtsTestCase):
    """compose.yaml: the worker scales (docker compose up --scale worker=N) and
    the services agree with each other."""

    def setUp(self):
        super().setUp()
        with open(os.path.join(DEPLOY, "compose.yaml")) as f:
            self.compose = yaml.safe_load(f)
        self.services = self.compose["services"]

    def test_worker_scales(self):
        w = self.services["worker"]
        self.assertEqual(w["command"][0], "worker")
        self.assertNotIn("container_name", w)
        self.assertNotIn("ports", w)                      # a fixed host port binds once
        self.assertNotIn("hostname", w)
        for v in w.get("volumes", []):                    # no database shared between replicas
            self.assertNotIn("/var/lib/mts", v if isinstance(v, str) else v.get("target", ""))
        db = w["command"][w["command"].index("--db") + 1]
        self.assertEqual(w["environment"]["DATABASE_PATH"], db)
        self.assertTrue(db.startswith("/var/lib/mts/"))      # the image's VOLUME: one per replica
        with open(os.path.join(DEPLOY, "Dockerfile")) as f:
            self.assertIn("VOLUME /var/lib/mts", f.read())

    def test_services_agree(self):
        for name, svc in self.services.items():
            for dep in svc.get("depends_on", []):
                self.assertIn(dep, self.services, name)
            env = svc.get("environment", {})
            if image_name(svc.get("image", "")) != "mts":
                continue
            self.assertNotIn("container_name", svc, name)
            for k in env:
                self.assertTrue(binary_reads(k), "compose service %s: mts does not read %s" % (name, k))
            cmd = svc.get("command", [])
            urls = [env["REDIS_URL"]] if "REDIS_URL" in env else []
            urls += [cmd[i + 1] for i, w in enumerate(cmd[:-1]) if w == "--redis"]
            for url in urls:
                host, port = redis_url_target(url)
                self.assertIn(host, self.services, "%s: %s" % (name, url))
                self.assertEqual(image_name(self.services[host]["image"]), "redis")
                self.assertEqual(port, 6379)
                self.assertIn(host, svc.get("depends_on", []), name)
