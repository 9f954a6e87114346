"""Hot-path compilation: repeated identical answers become an L2 handler that proves itself on every load."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from omega_actors.router.compiler import Compiler, Handler, validate
from omega_actors.router.features import normalise
from omega_actors.router.layers import Layer
from omega_actors.router.settings import CompileSettings

HAMLET = ("who wrote hamlet", "Who wrote Hamlet?", "WHO  wrote hamlet!", "who wrote hamlet.")


def observe(compiler: Compiler, text: str, answer: str, layer: Layer = Layer.SMALL, kind: str = "question") -> str | None:
    return compiler.observe(text, normalise(text), answer, layer, kind)


def compiled(**limits: Any) -> Compiler:
    compiler = Compiler(CompileSettings(**{"min_repeats": 3, **limits}))
    for text in HAMLET[:3]:
        observe(compiler, text, "Shakespeare")
    assert compiler.lookup("who wrote hamlet") is not None
    return compiler


def test_a_task_compiles_after_min_repeats_identical_answers_and_not_before() -> None:
    compiler = Compiler(CompileSettings(min_repeats=3))

    said = [observe(compiler, text, "Shakespeare") for text in HAMLET[:3]]

    assert said[:2] == [None, None]
    assert said[2] == "compiled 'who wrote hamlet' -> 'Shakespeare' after 3 identical answers from L4 small"
    handler = compiler.lookup("who wrote hamlet")
    assert handler == Handler("who wrote hamlet", "Shakespeare", "question", Layer.SMALL, tuple((t, "Shakespeare") for t in HAMLET[:3]))


def test_two_identical_answers_do_not_compile_when_three_are_required() -> None:
    compiler = Compiler(CompileSettings(min_repeats=3))

    for text in HAMLET[:2]:
        observe(compiler, text, "Shakespeare")

    assert compiler.lookup("who wrote hamlet") is None


def test_a_different_answer_restarts_the_count() -> None:
    compiler = Compiler(CompileSettings(min_repeats=3))

    said = [observe(compiler, "who wrote hamlet", answer) for answer in ("Shakespeare", "Shakespeare", "Marlowe", "Shakespeare", "Shakespeare")]

    assert said == [None] * 5
    assert compiler.lookup("who wrote hamlet") is None
    assert observe(compiler, "who wrote hamlet", "Shakespeare") is not None
    assert compiler.lookup("who wrote hamlet").evidence == (("who wrote hamlet", "Shakespeare"),) * 3  # type: ignore[union-attr]


def test_answers_from_the_rules_layer_never_compile() -> None:
    compiler = Compiler(CompileSettings(min_repeats=2))

    said = [observe(compiler, "volume up", "action: volume up", Layer.RULES, "command") for _ in range(10)]

    assert said == [None] * 10
    assert compiler.handlers == {}


def test_the_handler_remembers_the_layer_and_kind_that_first_gave_the_answer() -> None:
    compiler = Compiler(CompileSettings(min_repeats=2))

    observe(compiler, "what should i watch now", "intent: recommend", Layer.TINY, "tv")
    observe(compiler, "what should i watch now", "intent: recommend", Layer.SMALL, "tv")

    handler = compiler.lookup("what should i watch now")
    assert handler is not None and (handler.source, handler.kind) == (Layer.TINY, "tv")


def test_every_audit_every_th_hit_is_an_audit() -> None:
    compiler = compiled(audit_every=4)

    audits = [compiler.hit("who wrote hamlet") for _ in range(12)]

    assert audits == [False, False, False, True] * 3
    assert compiler.hits == 12


def test_an_audit_that_observes_a_different_answer_drops_the_handler() -> None:
    compiler = compiled(audit_every=2)
    assert compiler.hit("who wrote hamlet") is False
    assert compiler.hit("who wrote hamlet") is True

    said = observe(compiler, "who wrote hamlet", "Marlowe")

    assert said == "dropped the handler for 'who wrote hamlet': L4 small now answers 'Marlowe', the handler said 'Shakespeare'"
    assert compiler.lookup("who wrote hamlet") is None


def test_an_audit_that_observes_the_same_answer_keeps_the_handler() -> None:
    compiler = compiled()

    assert observe(compiler, "Who wrote Hamlet", "Shakespeare") is None
    assert compiler.lookup("who wrote hamlet") is not None


def test_a_dropped_handler_must_earn_its_place_again_from_scratch() -> None:
    compiler = compiled()
    observe(compiler, "who wrote hamlet", "Marlowe")

    assert [observe(compiler, "who wrote hamlet", "Marlowe") for _ in range(2)] == [None, None]
    assert observe(compiler, "who wrote hamlet", "Marlowe") is not None
    assert compiler.lookup("who wrote hamlet").answer == "Marlowe"  # type: ignore[union-attr]


def test_validate_replays_the_evidence_and_accepts_a_handler_that_reproduces_it() -> None:
    handler = compiled().lookup("who wrote hamlet")

    assert handler is not None and validate(handler) is None


def test_validate_rejects_evidence_that_normalises_elsewhere_a_different_recorded_answer_or_none() -> None:
    good = Handler("who wrote hamlet", "Shakespeare", "question", Layer.SMALL, (("Who wrote Hamlet?", "Shakespeare"),))

    moved = Handler(good.key, good.answer, good.kind, good.source, (("who wrote macbeth", "Shakespeare"),))
    other = Handler(good.key, good.answer, good.kind, good.source, (("Who wrote Hamlet?", "Marlowe"),))
    empty = Handler(good.key, good.answer, good.kind, good.source, ())

    assert validate(good) is None
    assert validate(moved) == "'who wrote macbeth' now normalises to 'who wrote macbeth', not to the handler's key"
    assert validate(other) == "'Who wrote Hamlet?' was answered 'Marlowe', the handler answers 'Shakespeare'"
    assert validate(empty) == "it has no evidence to replay"


def saved(compiler: Compiler) -> dict[str, Any]:
    return json.loads(json.dumps(compiler.to_dict()))


def test_handlers_round_trip_through_json_and_still_validate() -> None:
    compiler = compiled()

    restored = Compiler.from_dict(compiler.settings, saved(compiler))

    assert restored.handlers == compiler.handlers
    assert restored.revalidate() == []
    assert restored.lookup("who wrote hamlet") is not None


def test_revalidate_drops_a_handler_whose_evidence_no_longer_normalises_to_its_key() -> None:
    data = saved(compiled())
    data["who wrote hamlet"]["evidence"][1][0] = "who wrote macbeth?"
    compiler = Compiler.from_dict(CompileSettings(), data)

    dropped = compiler.revalidate()

    assert dropped == ["dropped the handler for 'who wrote hamlet': 'who wrote macbeth?' now normalises to 'who wrote macbeth', not to the handler's key"]
    assert compiler.lookup("who wrote hamlet") is None


def test_revalidate_drops_a_handler_whose_recorded_answer_differs() -> None:
    data = saved(compiled())
    data["who wrote hamlet"]["evidence"][2][1] = "Marlowe"
    compiler = Compiler.from_dict(CompileSettings(), data)

    assert len(compiler.revalidate()) == 1
    assert compiler.handlers == {}


def test_revalidate_drops_a_handler_whose_answer_was_edited() -> None:
    data = saved(compiled())
    data["who wrote hamlet"]["answer"] = "Bacon"
    compiler = Compiler.from_dict(CompileSettings(), data)

    assert len(compiler.revalidate()) == 1
    assert compiler.lookup("who wrote hamlet") is None


def test_revalidate_drops_a_handler_filed_under_another_key() -> None:
    data = saved(compiled())
    data["who wrote macbeth"] = data.pop("who wrote hamlet")
    compiler = Compiler.from_dict(CompileSettings(), data)

    assert len(compiler.revalidate()) == 1
    assert compiler.lookup("who wrote macbeth") is None


def test_revalidate_keeps_the_good_handlers_and_drops_only_the_bad_one() -> None:
    compiler = compiled(min_repeats=2)
    for _ in range(2):
        observe(compiler, "who wrote macbeth", "Shakespeare")
    data = saved(compiler)
    data["who wrote macbeth"]["evidence"] = []
    restored = Compiler.from_dict(compiler.settings, data)

    assert [line.split(":")[0] for line in restored.revalidate()] == ["dropped the handler for 'who wrote macbeth'"]
    assert list(restored.handlers) == ["who wrote hamlet"]


def test_no_more_than_max_handlers_are_compiled() -> None:
    compiler = Compiler(CompileSettings(min_repeats=2, max_handlers=2))

    for task in ("one", "two", "three", "three", "three"):
        observe(compiler, f"task {task}", "same")
        observe(compiler, f"task {task}", "same")

    assert sorted(compiler.handlers) == ["task one", "task two"]


def test_a_slot_freed_by_a_dropped_handler_can_be_filled_again() -> None:
    compiler = Compiler(CompileSettings(min_repeats=2, max_handlers=1))
    for task in ("task one", "task one", "task two"):
        observe(compiler, task, "same")

    observe(compiler, "task one", "different")  # drops task one's handler
    observe(compiler, "task two", "same")

    assert list(compiler.handlers) == ["task two"]


def test_the_least_recently_seen_candidate_is_forgotten_beyond_max_candidates() -> None:
    compiler = Compiler(CompileSettings(min_repeats=2, max_candidates=2))

    for task in ("a", "b", "c"):  # "a" is forgotten when "c" arrives
        observe(compiler, f"task {task}", "same")
    observe(compiler, "task a", "same")
    observe(compiler, "task c", "same")

    assert list(compiler.handlers) == ["task c"]
    observe(compiler, "task a", "same")
    assert sorted(compiler.handlers) == ["task a", "task c"]


class CompileModel:
    """The rules of compiler.py's docstring, over (key, answer, layer) observations."""

    def __init__(self, limits: CompileSettings) -> None:
        self.limits = limits
        self.handlers: dict[str, str] = {}
        self.candidates: OrderedDict[str, tuple[str, int]] = OrderedDict()

    def observe(self, key: str, answer: str, layer: Layer) -> None:
        if layer == Layer.RULES:
            return
        if key in self.handlers:
            if self.handlers[key] != answer:
                del self.handlers[key]
            return
        previous, count = self.candidates.pop(key, (answer, 0))
        count = count + 1 if previous == answer else 1
        self.candidates[key] = (answer, count)
        while len(self.candidates) > self.limits.max_candidates:
            self.candidates.popitem(last=False)
        if count >= self.limits.min_repeats and len(self.handlers) < self.limits.max_handlers:
            del self.candidates[key]
            self.handlers[key] = answer


observations = st.lists(
    st.tuples(st.sampled_from(("a", "b", "c", "d", "e")), st.sampled_from(("yes", "no")), st.sampled_from((Layer.RULES, Layer.TINY, Layer.SMALL, Layer.SMALL))),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(st.integers(2, 4), st.integers(1, 3), st.integers(1, 4), observations)
def test_the_compiler_follows_its_documented_rules(min_repeats: int, max_handlers: int, max_candidates: int, seen: list[tuple[str, str, Layer]]) -> None:
    limits = CompileSettings(min_repeats=min_repeats, max_handlers=max_handlers, max_candidates=max_candidates)
    compiler, model = Compiler(limits), CompileModel(limits)

    for key, answer, layer in seen:
        said = compiler.observe(key.upper() + "?", key, answer, layer, "question")
        before = dict(model.handlers)
        model.observe(key, answer, layer)
        assert (said is not None) == (before != model.handlers)
        assert {k: h.answer for k, h in compiler.handlers.items()} == model.handlers
        assert len(compiler.handlers) <= max_handlers
    for handler in compiler.handlers.values():
        assert validate(handler) is None
        assert len(handler.evidence) >= min_repeats


def test_a_handler_keeps_only_min_repeats_answers_as_evidence_however_long_it_waited_for_a_slot() -> None:
    compiler = Compiler(CompileSettings(min_repeats=3, max_handlers=1))
    for _ in range(3):
        observe(compiler, "who wrote hamlet", "Shakespeare")
    for _ in range(50):  # no slot: the task keeps repeating as a candidate
        observe(compiler, "who painted guernica", "Picasso")
    del compiler.handlers["who wrote hamlet"]
    assert observe(compiler, "who painted guernica", "Picasso") is not None
    assert len(compiler.handlers["who painted guernica"].evidence) == 3
