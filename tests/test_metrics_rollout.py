"""Golden tests for code normalisation, code similarity, rollout scores and memorisation."""

from __future__ import annotations

import math
import random

import Levenshtein
import pytest

from simstudent.metrics.memorisation import TrainingIndex, memorisation
from simstudent.metrics.normalise import code_tokens, normalise_code, normalised_ast_dump
from simstudent.metrics.rollout import rollout_metrics, rollout_scores
from simstudent.metrics.similarity import ast_match, bleu, codebleu_like, dice, subtree_recall, subtrees
from simstudent.schema import Attempt, Dataset, GradeResult, Stream, Submission, Trajectory

BLEU_X1_X2 = (2 / 3 * 2 / 3 * 1 / 2 * 1) ** 0.25  # [x = 2] against [x = 1], worked out below


def test_tokens_and_normalised_code() -> None:
    assert code_tokens("x = 1  # hi\n") == ["x", "=", "1"]
    assert normalise_code("x=1  # hi\n") == normalise_code("x = 1")
    assert normalise_code("if a:\n    b\nc") != normalise_code("if a:\n    b\n    c")
    assert normalise_code("x = (1,\n") == "x = (1,"  # does not tokenize: regex fallback


def test_normalised_ast_ignores_names_comments_docstrings() -> None:
    a = 'def f(n):\n    """Doc."""\n    total = n + 1  # c\n    return total\n'
    b = "def g(m):\n    s = m + 1\n    return s\n"
    assert normalised_ast_dump(a) == normalised_ast_dump(b)
    assert ast_match(a, b)
    assert not ast_match("x = 1", "x = 2")
    assert ast_match("print(x)", "print(y)") and not ast_match("print(x)", "len(x)")  # builtins kept
    assert not ast_match("x = (", "x = (")  # unparseable never matches


def test_bleu_by_hand() -> None:
    assert bleu(list("abcd"), list("abcd")) == pytest.approx(1.0)
    # p1 = 2/3; p2 = (1+1)/(2+1); p3 = (0+1)/(1+1); p4 = (0+1)/(0+1); BP = exp(1 - 4/3)
    expected = math.exp(1 - 4 / 3) * (2 / 3 * 2 / 3 * 1 / 2 * 1) ** 0.25
    assert bleu(list("abcd"), list("abx")) == pytest.approx(expected)
    assert bleu(list("abc"), list("xyz")) == 0.0
    assert bleu(list("abc"), []) == 0.0


def test_ast_overlaps_by_hand() -> None:
    from collections import Counter

    assert dice(Counter("aab"), Counter("abc")) == pytest.approx(2 * 2 / 6)
    assert subtree_recall(Counter({"s1": 2, "s2": 1}), Counter({"s1": 1})) == pytest.approx(1 / 3)
    import ast

    assert len(subtrees(ast.parse("x = y + 1"))) == 2  # Assign and BinOp; leaves excluded


def test_codebleu_like_by_hand() -> None:
    assert codebleu_like("x = 1", "x = 1") == pytest.approx(1.0)
    # tokens [x = 1] vs [x = 2]: BLEU = (2/3 * 2/3 * 1/2 * 1)^(1/4), BP = 1; node types equal -> Dice 1;
    # the one non-leaf subtree (the Assign) differs -> recall 0.
    assert codebleu_like("x = 1", "x = 2") == pytest.approx(0.5 * BLEU_X1_X2 + 0.25 * 1 + 0.25 * 0)
    # only one side parses: the AST parts are 0
    assert codebleu_like("x = 1", "x = 1 +") == pytest.approx(0.5 * bleu(["x", "=", "1"], ["x", "=", "1", "+"]))


def _g(passed: int, total: int = 1, et: str = "") -> GradeResult:
    return GradeResult(error_type=et or ("no_error" if passed == total else "logical"), passed=passed, total=total)


def test_rollout_scores_by_hand() -> None:
    real = [("a = 1", _g(1)), ("b = a + 100\nprint(b)", _g(0))]
    gen = [("a = 1", _g(0))]
    s = rollout_scores(real, gen)
    assert s["coverage"] == pytest.approx(1 / 2)  # only the first real step has a match >= 0.8
    assert s["grade_proximity"] == pytest.approx(0.0)  # step 1: 1 - |1 - 0|
    assert s["final_grade_proximity"] == pytest.approx(1.0)  # last real 0 vs last generated 0
    assert s["ast_match"] == 1.0 and s["codebleu"] == pytest.approx(1.0)
    assert s["n_aligned"] == 1


def test_rollout_metrics_from_trajectories() -> None:
    history = [("x = 0", 0), ("x = 1", 0), ("x = 2", 1)]
    subs = [Submission(code=c, order=i, grade=_g(p)) for i, (c, p) in enumerate(history)]
    real = Dataset(streams=[Stream(student_id="s1", problem_id="p", submissions=subs)])
    traj = Trajectory(student_id="s1", problem_id="p", meta={"prefix_len": 1},
                      attempts=[Attempt(index=0, code="x = 1", grade=_g(0)),
                                Attempt(index=1, code="x = 2", grade=_g(1))])
    m = rollout_metrics(real, [traj, Trajectory(student_id="s9", problem_id="p", meta={"prefix_len": 0})])
    assert m["n_rollouts"] == 1 and m["skipped"] == {"no real stream": 1}
    for k in ("coverage", "grade_proximity", "final_grade_proximity", "ast_match", "codebleu"):
        assert m["means"][k]["mean"] == pytest.approx(1.0), k


def test_memorisation_exact_and_near_by_hand() -> None:
    training = ["x = 1\n", "def f(a):\n    return a + 1\n"]
    generated = ["x=1  # copied", "def f(a):\n    return a + 2\n", "print('hello world')"]
    # near: normalised "def f ( a ) : <NL> <INDENT> return a + 1" differs by one substitution
    # (indel 2) over 2 x 40 characters -> distance 0.025 < 0.05
    m = memorisation(generated, training)
    assert (m["exact"], m["near"]) == (1, 1)
    assert m["exact_share"] == pytest.approx(1 / 3) and m["copy_share"] == pytest.approx(2 / 3)


def test_near_threshold_is_strict() -> None:
    a, b = "a" * 19 + "b", "a" * 19 + "c"  # indel 2 over 40 characters: distance exactly 0.05
    assert 1 - Levenshtein.ratio(a, b) == pytest.approx(0.05)
    assert TrainingIndex([a], threshold=0.05).kind(b) is None
    assert TrainingIndex([a], threshold=0.06).kind(b) == "near"


def test_length_index_agrees_with_brute_force() -> None:
    rng = random.Random(1)
    words = ["x", "y", "=", "+", "1", "(", ")", "f", "return", "if"]
    training = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 30))) for _ in range(200)]
    generated = [t[:-1] + "z" if i % 3 == 0 else t + " y" for i, t in enumerate(training[:60])]
    generated += [" ".join(rng.choice(words) for _ in range(rng.randint(3, 30))) for _ in range(60)]
    index = TrainingIndex(training)
    norm_train = {normalise_code(t) for t in training}
    for code in generated:
        a = normalise_code(code)
        brute = "exact" if a in norm_train else (
            "near" if any(1 - Levenshtein.ratio(a, b) < 0.05 for b in norm_train) else None)
        assert index.kind(code) == brute, code


def test_copy_shares_count_reference_and_training_copies():
    """Worked by hand: the known codes are one training code and one reference solution."""
    from types import SimpleNamespace

    from simstudent.experiments.rollout_measure import copy_shares
    from simstudent.schema import Dataset, Problem, Stream, Submission

    ref = "def total(xs):\n    s = 0\n    for x in xs:\n        s = s + x\n    return s\n"
    train_code = "def total(xs):\n    return sum(xs)\n"
    problem = Problem(id="p", reference_solution=ref)
    train = Dataset(streams=[Stream(student_id="t", problem_id="p", submissions=[Submission(code=train_code, order=0)])],
                    problems={"p": problem})
    inputs = SimpleNamespace(split=SimpleNamespace(train=train), problems={"p": problem})
    generated = [
        ref,                                          # exact copy of the reference
        ref.replace("return s", "return s  # done"),  # a comment: equal after normalising -> exact
        ref.replace("s = s + x", "s = s + y"),        # one substitution: indel 2, ratio 1 - 2/(2n) > 0.95 -> near
        "def total(xs):\n    print(xs)\n",           # neither
    ]
    real = [train_code, "x = 1\n"]                    # one exact copy of a training code, one original
    gen, rl = copy_shares(inputs, generated, real)
    assert (gen["exact"], gen["near"], gen["n_generated"]) == (2, 1, 4) and gen["copy_share"] == 0.75
    assert (rl["exact"], rl["near"], rl["copy_share"]) == (1, 0, 0.5)
