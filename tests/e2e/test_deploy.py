"""End-to-end: the deployment files in deploy/ are kept correct against the
current commands.

- Every systemd unit passes `systemd-analyze verify` (with the binary path
  pointed at the mts under test).
- Every mts command line in deploy/ (ExecStart=, the compose services'
  `command:`, the Dockerfile's CMD) names an existing command and only options
  that command's --help lists; `$VAR` words must be set by the unit's own
  Environment= lines or documented in its header.
"""
import os
import re
import shlex
import shutil
import subprocess

import yaml

from mtslib import MTS, ROOT, MtsTestCase, run

DEPLOY = os.path.join(ROOT, "deploy")
UNITS = os.path.join(DEPLOY, "systemd")


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
    with open(os.path.join(DEPLOY, "Dockerfile")) as f:
        for line in f:
            m = re.match(r'CMD\s+(\[.*\])', line.strip())
            if m:
                found.append(("Dockerfile CMD", yaml.safe_load(m.group(1))))
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

    def test_every_command_line_matches_help(self):
        invocations = mts_invocations()
        self.assertGreaterEqual(len(invocations), 6, invocations)
        helps = {}
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
            for w in argv[1:]:
                if w.startswith("--"):
                    opt = w.split("=", 1)[0]
                    self.assertRegex(text, r"(?m)(^|\s)%s\b" % re.escape(opt),
                                     "%s: mts %s has no option %s" % (where, cmd, opt))

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
