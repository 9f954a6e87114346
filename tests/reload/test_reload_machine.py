"""Hot reload against a model: random edits, bad edits, crash-looping edits and rollbacks.

The machine runs a real system (simple base) with a real state repository.
Each step applies a random configuration or rolls back to a random earlier
commit. The model knows only which trees were committed. After every step:

- the running tree, as the supervisors hold it *and* as `status` shows it
  (ids, order, strategies, every child running, each worker's arguments),
  equals the tree of the last good commit;
- main holds exactly one commit per successful apply or rollback (plus the
  initial import), and HEAD is the last of them.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from omega_actors.reload import Reloader, ReloadSettings
from omega_actors.reload.apply import boot_commit, parse
from omega_actors.runtime import Runtime, SupervisorSpec
from omega_actors.runtime.supervisor_spec import nested_spec
from omega_actors.storage.state_repository import StateRepository

from .actors import GetTag
from .conftest import SYSTEM, WORKER

IDS = ("a", "b", "c", "d")
POOL_IDS = ("x", "y")


@st.composite
def workers(draw: st.DrawFn, ids: tuple[str, ...]) -> list[tuple[str, str, str]]:
    chosen = draw(st.lists(st.sampled_from(ids), unique=True, max_size=len(ids)))
    return [(id, draw(st.sampled_from(("", "v2", "v3"))), draw(st.sampled_from(("permanent", "transient")))) for id in chosen]


@st.composite
def trees(draw: st.DrawFn) -> str:
    lines = ["[tree]", f"intensity = {draw(st.integers(3, 6))}", "period = 30"]
    for id, tag, restart in draw(workers(IDS)):
        lines += ["[[tree.children]]", f'id = "{id}"', f'start = "{WORKER}"', f'restart = "{restart}"', f'args = {{ tag = "{tag}" }}']
    if draw(st.booleans()):
        strategy = draw(st.sampled_from(("one_for_one", "one_for_all", "rest_for_one")))
        lines += ["[[tree.children]]", 'id = "pool"', 'type = "supervisor"', f'strategy = "{strategy}"', "intensity = 5"]
        for id, tag, restart in draw(workers(POOL_IDS)):
            lines += ["  [[tree.children.children]]", f'  id = "{id}"', f'  start = "{WORKER}"', f'  restart = "{restart}"']
            lines += [f'  args = {{ tag = "{tag}" }}']
    return "\n".join(lines) + "\n"


BAD_EDITS = (
    ("restart = \"permanent\"", "restart = \"sometimes\""),
    ("intensity = ", "intensity = -"),
    ("period = 30", "period = 30\nstrategy = \"one_for_none\""),
    ("[tree]", "[tree]\nshutdown_order = 1"),
)


class ReloadMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="omega-reload-"))
        config_dir = self.dir / "config"
        config_dir.mkdir()
        (config_dir / "system.toml").write_text(SYSTEM.replace("[reload]", f'data_dir = "{self.dir / "data"}"\n\n[reload]'))
        (config_dir / "tree.toml").write_text('[tree]\nintensity = 3\n[[tree.children]]\nid = "a"\nstart = "' + WORKER + '"\n')
        self.repo = StateRepository(self.dir / "state")
        self.config_dir = config_dir
        self.good = [self.boot()]  # commits on main, oldest first

    def boot(self) -> str:
        """What `run.py start` does: boot from HEAD."""
        head, _ = boot_commit(self.repo, self.config_dir, "machine")
        config = parse(self.repo.files(head), "config")
        self.runtime = Runtime.start(config.require_tree(), config.system, config.root_id)
        self.reloader = Reloader(self.runtime, self.repo, ReloadSettings(health_window=0.0, crash_limit=1), "machine")
        return head

    def teardown(self) -> None:
        self.runtime.shutdown()
        self.repo.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def files(self, tree: str) -> dict[str, bytes]:
        return {**self.repo.files(), "tree.toml": tree.encode()}

    def expect(self, outcome, status: str) -> None:  # type: ignore[no-untyped-def]
        if outcome.status == "unchanged" and status == "applied":
            return
        assert outcome.status == status, outcome
        if status == "applied":
            self.good.append(outcome.commit)
        if self.runtime.terminated():
            # Bad edits in a row can crash the application past its intensity, and the system
            # ends (escalation). Started again, it must come up on the last good commit.
            assert status == "rolled_back", outcome
            self.runtime.shutdown()
            assert self.boot() == self.good[-1]

    @rule(tree=trees())
    def a_valid_edit_is_applied(self, tree: str) -> None:
        self.expect(self.reloader.apply(self.files(tree), "edit"), "applied")

    @rule(tree=trees(), edit=st.sampled_from(BAD_EDITS))
    def an_invalid_edit_is_rejected(self, tree: str, edit: tuple[str, str]) -> None:
        broken = tree.replace(edit[0], edit[1], 1)
        if broken == tree:
            broken = tree + "\n[[tree.children]]\nid = \"a b\"\n"
        self.expect(self.reloader.apply(self.files(broken), "bad edit"), "rejected")

    @rule(tree=trees(), how=st.sampled_from(("sick", "refuse")), nested=st.booleans())
    def an_edit_whose_new_child_fails_is_rolled_back(self, tree: str, how: str, nested: bool) -> None:
        bad = f'[[tree.children]]\nid = "bad"\nstart = "{WORKER}"\nargs = {{ {how} = true }}\n'
        if nested and "id = \"pool\"" in tree:
            bad = "\n".join("  " + line for line in bad.replace("[[tree.children]]", "[[tree.children.children]]").splitlines()) + "\n"
            tree = tree + bad  # the pool is the last table, so its children come last
        else:
            tree = tree.replace("period = 30\n", "period = 30\n" + bad, 1) if "[[tree.children]]" in tree else tree + bad
        self.expect(self.reloader.apply(self.files(tree), "risky"), "rolled_back")

    @precondition(lambda self: len(self.good) > 1)
    @rule(data=st.data())
    def a_rollback_returns_to_an_earlier_commit(self, data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(self.good[:-1]))
        self.expect(self.reloader.rollback(target, "back"), "applied")

    @invariant()
    def the_running_tree_is_the_last_good_commit(self) -> None:
        assert self.repo.head() == self.good[-1]
        committed = parse(self.repo.files(), "HEAD").require_tree()
        assert self.runtime.current_spec() == committed
        app = self.runtime.tree().find("app")
        assert app is not None
        self._matches(app, committed)

    def _matches(self, node, spec: SupervisorSpec) -> None:  # type: ignore[no-untyped-def]
        assert node.strategy == spec.strategy.value
        assert [child.id for child in node.children] == [child.id for child in spec.children]
        for live, child in zip(node.children, spec.children, strict=True):
            assert live.state == "running", live
            inner = nested_spec(child)
            if inner is not None:
                self._matches(live, inner)
            else:
                assert self.runtime.ask(live.address, GetTag()) == child.start.kwargs.get("tag", "")

    @invariant()
    def main_holds_one_commit_per_applied_change(self) -> None:
        assert len(list(self.repo.repo.iter_commits("main"))) == len(self.good)
        assert self.repo.pending() is None


def test_hot_reload_follows_the_model() -> None:
    ReloadMachine.TestCase.settings = settings(
        max_examples=25, stateful_step_count=12, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    ReloadMachine.TestCase().runTest()
