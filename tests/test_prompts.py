"""Golden tests: every template's exact text for one hand-written example."""

from __future__ import annotations

import pytest

from simstudent.prompts import (
    SYSTEM_PROMPT,
    TEMPLATES,
    format_attempts,
    get_template,
    main_function_name,
    main_signature,
    parse_completion,
    render_chat,
    render_example,
    render_ft,
    template_name,
)
from simstudent.loop_prompts import LoopTurn, render_loop_prompt
from simstudent.schema import Attempt, Example, GradeResult, Problem

PROBLEM = Problem(
    id="hw01_q1",
    instructions="Return the sum of a and b.",
    fixed_code="TOTAL = 0",
    skeleton_code='def add(a, b):\n    "*** YOUR CODE HERE ***"\n',
)

EXP1 = Example(
    exp="exp1", student_id="s1", problem_id="hw01_q1", target_index=0,
    target="def add(a, b):\r\n    return a - b", stream_length=3, stage="first",
    context_problem_id="hw00_q1", context_indices=[0], context=["def f():\n    pass"],
)
EXP2 = Example(
    exp="exp2", student_id="s1", problem_id="hw01_q1", target_index=2,
    target="def add(a, b):\n    return a + b", stream_length=3, is_final=True, k=3,
    prior=[None, "def add(a, b):\n    return a", "def add(a, b):\n    return a - b"],
    context_problem_id="hw00_q1", context_indices=[None, 0, 1, 2], context=[None, "x = 1", "x = 2", "x = 3"],
)

FT_PROBLEM = (
    "PROBLEM INSTRUCTIONS:\n"
    "Return the sum of a and b.\n"
    "FIXED CODE:\n"
    "<code>TOTAL = 0</code>\n"
    "TODO CODE:\n"
    '<code>def add(a, b):\n    "*** YOUR CODE HERE ***"\n</code>\n'
)
CHAT_PROBLEM = (
    "<p>PROBLEM INSTRUCTIONS: Return the sum of a and b.</p>\n"
    "<p>FIXED CODE: <code>TOTAL = 0</code></p>\n"
    '<p>TODO CODE: <code>def add(a, b):\n    "*** YOUR CODE HERE ***"\n</code></p>\n'
)
PRIOR = (
    "1. None\n"
    "2. <code>def add(a, b):\n    return a</code>\n"
    "3. <code>def add(a, b):\n    return a - b</code>"
)
PAST2 = "1. None\n2. <code>x = 1</code>\n3. <code>x = 2</code>\n4. <code>x = 3</code>"
EXP1_DONE = "<code>def add(a, b):\n    return a - b</code>"
EXP2_DONE = "<code>def add(a, b):\n    return a + b</code><SUBMIT>"

B_TODO = "* You may only implement functions and classes in the TODO CODE. Do not include docstrings.\n"
B_FIXED = (
    "* FIXED CODE (if any) is provided for you. Do not modify or include it in your attempt. "
    "Do not include any other code.\n"
)
B_WRAP = "* Wrap the generated code in <code> and </code> tags so that it can be easily extracted.\n"
B_PRIOR = (
    "* You are provided with the student's previous attempts for the current problem (SUBMISSIONS SO FAR). "
    "Use that progress for generating the student's next attempt.\n"
)
B_NONE = "* If all previous attempts are None, generate a first attempt.\n"
B_SUBMIT = (
    "* If the generated next attempt is the student's final attempt, append \"<SUBMIT>\" "
    "to the end of your attempt.\n"
)
B_PAST2 = (
    "* You are also provided with the student's previous attempts for a past problem from a past homework. "
    "Use it as a reference to predict the student's next attempt for the current problem.\n"
)
ROLE = "You are simulating a student taking an introduction to Python programming course."
UL = '<ul style="list-style-type: none">\n'

GOLDEN_FT = {
    "ft-exp1-v1": (EXP1, FT_PROBLEM + "first:\n", EXP1_DONE),
    "ft-exp1-ctx-v1": (
        EXP1,
        "PAST PROBLEM SUBMISSIONS:\n1. <code>def f():\n    pass</code>\n" + FT_PROBLEM + "first:\n",
        EXP1_DONE,
    ),
    "ft-exp2-v1": (EXP2, FT_PROBLEM + "SUBMISSIONS:\n" + PRIOR + "\n", EXP2_DONE),
    "ft-exp2-ctx-v1": (
        EXP2,
        "PAST PROBLEM SUBMISSIONS:\n" + PAST2 + "\n" + FT_PROBLEM + "SUBMISSIONS:\n" + PRIOR + "\n",
        EXP2_DONE,
    ),
}

GOLDEN_CHAT = {
    "chat-exp1-v1": (
        EXP1,
        CHAT_PROBLEM
        + f"<p>{ROLE} Generate the student's first attempt at the TODO CODE of the current problem.</p>\n"
        + UL + B_TODO + B_FIXED + B_WRAP + "</ul>",
        EXP1_DONE,
    ),
    "chat-exp1-ctx-v1": (
        EXP1,
        "<p>PAST PROBLEM SUBMISSIONS:\n1. <code>def f():\n    pass</code></p>\n"
        + CHAT_PROBLEM
        + f"<p>{ROLE} Generate the student's first attempt at the TODO CODE of the current problem.</p>\n"
        + UL + B_TODO + B_FIXED
        + "* You are also provided with the student's first attempt for a past problem from a past homework. "
        "Use it as a reference to predict the student's first attempt for the current problem.\n"
        + B_WRAP + "</ul>",
        EXP1_DONE,
    ),
    "chat-exp2-v1": (
        EXP2,
        CHAT_PROBLEM
        + "<p>SUBMISSIONS SO FAR:\n" + PRIOR + "</p>\n"
        + f"<p>{ROLE} Generate the student's next attempt at the TODO CODE of the current problem "
        "conditioned on their SUBMISSIONS SO FAR.</p>\n"
        + UL + B_TODO + B_FIXED + B_PRIOR + B_NONE + B_SUBMIT + B_WRAP + "</ul>",
        EXP2_DONE,
    ),
    "chat-exp2-ctx-v1": (
        EXP2,
        "<p>PAST PROBLEM SUBMISSIONS:\n" + PAST2 + "</p>\n"
        + CHAT_PROBLEM
        + "<p>SUBMISSIONS SO FAR:\n" + PRIOR + "</p>\n"
        + f"<p>{ROLE} Generate the student's next attempt at the TODO CODE of the current problem "
        "based on the SUBMISSIONS SO FAR.</p>\n"
        + UL + B_TODO + B_FIXED + B_PRIOR + B_SUBMIT + B_NONE + B_PAST2 + B_WRAP + "</ul>",
        EXP2_DONE,
    ),
}


# The paper's plain-text layout (the default): LABEL: content sections separated by
# blank lines, Fig. 5/6 wording, no markup.
P_PROBLEM = (
    "PROBLEM INSTRUCTIONS: Return the sum of a and b.\n\n"
    "FIXED CODE: <code>TOTAL = 0</code>\n\n"
    'TODO CODE: <code>def add(a, b):\n    "*** YOUR CODE HERE ***"\n</code>'
)
P_BULLETS_EXP2 = B_TODO + B_FIXED + B_PRIOR
GOLDEN_FT.update({
    "ft-exp1": (EXP1, P_PROBLEM + "\n\nfirst:\n", EXP1_DONE),
    "ft-exp1-ctx": (EXP1, "PAST PROBLEM SUBMISSIONS: 1. <code>def f():\n    pass</code>\n\n" + P_PROBLEM
                    + "\n\nfirst:\n", EXP1_DONE),
    "ft-exp2": (EXP2, P_PROBLEM + "\n\nSUBMISSIONS: " + PRIOR + "\n", EXP2_DONE),
    "ft-exp2-ctx": (EXP2, "PAST PROBLEM SUBMISSIONS: " + PAST2 + "\n\n" + P_PROBLEM + "\n\nSUBMISSIONS: " + PRIOR
                    + "\n", EXP2_DONE),
})
GOLDEN_CHAT.update({
    "chat-exp1": (
        EXP1,
        P_PROBLEM + f"\n\n{ROLE} Generate the student's first attempt at the TODO CODE of the current problem.\n\n"
        + B_TODO + B_FIXED + B_WRAP.rstrip("\n"),
        EXP1_DONE,
    ),
    "chat-exp1-ctx": (
        EXP1,
        "PAST PROBLEM SUBMISSIONS: 1. <code>def f():\n    pass</code>\n\n" + P_PROBLEM
        + f"\n\n{ROLE} Generate the student's first attempt at the TODO CODE of the current problem.\n\n"
        + B_TODO + B_FIXED
        + "* You are also provided with the student's first attempt for a past problem from a past homework. "
        "Use it as a reference to predict the student's first attempt for the current problem.\n"
        + B_WRAP.rstrip("\n"),
        EXP1_DONE,
    ),
    "chat-exp2": (
        EXP2,
        P_PROBLEM + "\n\nSUBMISSIONS SO FAR: " + PRIOR + "\n\n"
        + f"{ROLE} Generate the student's next attempt at the TODO CODE of the current problem "
        "conditioned on their SUBMISSIONS SO FAR.\n\n"
        + P_BULLETS_EXP2 + B_NONE + B_SUBMIT + B_WRAP.rstrip("\n"),
        EXP2_DONE,
    ),
    "chat-exp2-ctx": (
        EXP2,
        "PAST PROBLEM SUBMISSIONS: " + PAST2 + "\n\n" + P_PROBLEM + "\n\nSUBMISSIONS SO FAR: " + PRIOR + "\n\n"
        + f"{ROLE} Generate the student's next attempt at the TODO CODE of the current problem "
        "based on the SUBMISSIONS SO FAR.\n\n"
        + P_BULLETS_EXP2 + B_SUBMIT + B_NONE + B_PAST2 + B_WRAP.rstrip("\n"),
        EXP2_DONE,
    ),
})


def test_paper_layout_stage_words_and_plain_problem_text() -> None:
    html_problem = PROBLEM.model_copy(update={
        "instructions": "<p>Return the sum of <code>a</code> &amp; b.</p><ul><li>Use +.</li><li>No loops.</li></ul>"})
    for stage, word in (("first", "first"), ("middle", "mid-point"), ("last", "final")):
        ex = EXP1.model_copy(update={"stage": stage, "context_problem_id": None, "context": []})
        ft = render_example(ex, html_problem, "ft-exp1").prompt
        assert ft.endswith(f"\n\n{word}:\n")
        chat = render_example(ex, html_problem, "chat-exp1").messages[1]["content"]
        assert f"Generate the student's {word} attempt" in chat
        # markup in the problem text becomes plain text; none is added by the template
        assert "PROBLEM INSTRUCTIONS: Return the sum of a & b.\n* Use +.\n* No loops.\n\nFIXED CODE:" in chat
        assert "<p>" not in chat and "<ul" not in chat and "<li>" not in ft
    # the -v1 layouts keep the raw stage name
    ex = EXP1.model_copy(update={"stage": "middle", "context_problem_id": None, "context": []})
    assert render_example(ex, PROBLEM, "ft-exp1-v1").prompt.endswith("\nmiddle:\n")


@pytest.mark.parametrize("name", sorted(GOLDEN_FT))
def test_ft_templates_golden(name: str) -> None:
    example, prompt, completion = GOLDEN_FT[name]
    rendered = render_example(example, PROBLEM, name)
    assert rendered.prompt == prompt
    assert rendered.completion == completion
    assert rendered.messages is None
    assert rendered.stop == ["\nPROBLEM INSTRUCTIONS:", "\nPAST PROBLEM SUBMISSIONS:"]


@pytest.mark.parametrize("name", sorted(GOLDEN_CHAT))
def test_chat_templates_golden(name: str) -> None:
    example, user, completion = GOLDEN_CHAT[name]
    rendered = render_example(example, PROBLEM, name)
    assert rendered.messages == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": user},
    ]
    assert rendered.completion == completion
    assert rendered.prompt is None


LOOP_TURNS = [
    LoopTurn("def add(a, b):\n    return a", "1 of 2 tests failed: add(1, 2) returned 1, expected 3"),
    LoopTurn("def add(a, b):\n    return a - b", "Failed\r\nagain", "Look at the operator."),
]
LOOP_LIST = (
    "1. <code>def add(a, b):\n    return a</code>\n"
    "FEEDBACK: 1 of 2 tests failed: add(1, 2) returned 1, expected 3\n"
    "2. <code>def add(a, b):\n    return a - b</code>\n"
    "FEEDBACK: Failed\nagain\n"
    "HINT: Look at the operator."
)


def test_ft_loop_golden() -> None:
    r = render_loop_prompt(PROBLEM, LOOP_TURNS, ["x = 1", None], "ft-loop")
    assert r.prompt == (
        "PAST PROBLEM SUBMISSIONS:\n1. <code>x = 1</code>\n2. None\n" + FT_PROBLEM + "SUBMISSIONS:\n" + LOOP_LIST + "\n"
    )
    assert r.completion is None
    no_ctx = render_loop_prompt(PROBLEM, LOOP_TURNS, None, "ft-loop")
    assert no_ctx.prompt == FT_PROBLEM + "SUBMISSIONS:\n" + LOOP_LIST + "\n"


B_FEEDBACK = (
    "* Each previous attempt is followed by the autograder's FEEDBACK on it, and sometimes a HINT "
    "from a tutor. The student has read them before making the next attempt.\n"
)
B_SOLUTION = (
    "* The INSTRUCTOR SOLUTION is a correct answer that the student has not seen. Do not copy it: "
    "use it only to judge where this student's work is heading, and write the attempt this "
    "student would write next.\n"
)
SOLUTION = "def add(a, b):\n    return a + b\n"
# The loop templates are plain text: sections separated by one blank line, bullets "* ",
# no <p>/<ul> markup; the TODO CODE and a one-line ask naming the function come last.
CHAT_LOOP_HEAD = "PROBLEM INSTRUCTIONS: Return the sum of a and b.\n\nFIXED CODE: <code>TOTAL = 0</code>\n\n"
CHAT_LOOP_TAIL = (
    '\nTODO CODE: <code>def add(a, b):\n    "*** YOUR CODE HERE ***"\n</code>\n\n'
    "Write the student's next attempt at add."
)


def test_chat_loop_golden() -> None:
    r = render_loop_prompt(PROBLEM, LOOP_TURNS, None, "chat-loop")
    assert r.messages == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {
            "role": "user",
            "content": CHAT_LOOP_HEAD
            + "SUBMISSIONS SO FAR:\n" + LOOP_LIST + "\n\n"
            + f"{ROLE} Generate the student's next attempt at the TODO CODE of the current problem "
            "conditioned on their SUBMISSIONS SO FAR.\n"
            + B_TODO + B_FIXED + B_PRIOR + B_FEEDBACK + B_NONE + B_SUBMIT + B_WRAP + CHAT_LOOP_TAIL,
        },
    ]
    assert "<p>" not in r.messages[1]["content"] and "<ul" not in r.messages[1]["content"]
    ctx = render_loop_prompt(PROBLEM, LOOP_TURNS, ["x = 1"], "chat-loop").messages[1]["content"]
    assert ctx.startswith("PAST PROBLEM SUBMISSIONS:\n1. <code>x = 1</code>\n\n" + CHAT_LOOP_HEAD)
    assert "at the TODO CODE of the current problem based on the SUBMISSIONS SO FAR.\n" in ctx
    assert ctx.endswith(B_FEEDBACK + B_SUBMIT + B_NONE + B_PAST2 + B_WRAP + CHAT_LOOP_TAIL)


def test_ft_loop_solution_golden() -> None:
    r = render_loop_prompt(PROBLEM, LOOP_TURNS, ["x = 1"], "ft-loop-solution", solution=SOLUTION)
    assert r.prompt == (
        "PAST PROBLEM SUBMISSIONS:\n1. <code>x = 1</code>\n" + FT_PROBLEM
        + "INSTRUCTOR SOLUTION (the student has not seen it):\n<code>def add(a, b):\n    return a + b\n</code>\n"
        + "SUBMISSIONS:\n" + LOOP_LIST + "\n"
    )
    # The plain template never shows a solution, even when one is passed.
    assert render_loop_prompt(PROBLEM, LOOP_TURNS, ["x = 1"], "ft-loop", solution=SOLUTION).prompt == (
        "PAST PROBLEM SUBMISSIONS:\n1. <code>x = 1</code>\n" + FT_PROBLEM + "SUBMISSIONS:\n" + LOOP_LIST + "\n")
    with pytest.raises(ValueError, match="problem 'hw01_q1' has none"):
        render_loop_prompt(PROBLEM, LOOP_TURNS, None, "ft-loop-solution")


def test_chat_loop_solution_golden() -> None:
    r = render_loop_prompt(PROBLEM, [], None, "chat-loop-solution", solution=SOLUTION)
    assert r.messages[1]["content"] == (
        CHAT_LOOP_HEAD
        + "INSTRUCTOR SOLUTION (the student has not seen it): <code>def add(a, b):\n    return a + b\n</code>\n\n"
        + "SUBMISSIONS SO FAR:\nNone\n\n"
        + f"{ROLE} Generate the student's next attempt at the TODO CODE of the current problem "
        "conditioned on their SUBMISSIONS SO FAR.\n"
        + B_TODO + B_FIXED + B_PRIOR + B_FEEDBACK + B_NONE + B_SUBMIT + B_SOLUTION + B_WRAP + CHAT_LOOP_TAIL
    )


def test_main_signature() -> None:
    assert main_signature(PROBLEM) == "def add(a, b):"
    two = Problem(id="p", instructions="", skeleton_code="def helper(x):\n    pass\n\ndef main(n, k=2):\n    pass\n",
                  function_name="main")
    assert main_signature(two) == "def main(n, k=2):"
    assert main_function_name(two) == "main"
    assert main_signature(Problem(id="p", instructions="", skeleton_code="x = 1")) is None


def test_loop_with_exp2_template_matches_training_format() -> None:
    """An adapter trained on an exp2 template sees, in the loop, exactly its training layout."""
    turns = [("def add(a, b):\n    return a", "fb 1"), ("def add(a, b):\n    return a - b", "fb 2")]
    r = render_loop_prompt(PROBLEM, turns, [None, "x = 1", "x = 2", "x = 3"], "ft-exp2-ctx-v1", k=3)
    assert r.prompt == (
        "PAST PROBLEM SUBMISSIONS:\n1. None\n2. <code>x = 1</code>\n3. <code>x = 2</code>\n4. <code>x = 3</code>\n"
        + FT_PROBLEM + "SUBMISSIONS:\n" + PRIOR + "\n"
    )
    assert r.prompt == render_example(EXP2, PROBLEM, "ft-exp2-ctx-v1").prompt
    paper = render_loop_prompt(PROBLEM, turns, [None, "x = 1", "x = 2", "x = 3"], "ft-exp2-ctx", k=3)
    assert paper.prompt == render_example(EXP2, PROBLEM, "ft-exp2-ctx").prompt
    first = render_loop_prompt(PROBLEM, [], None, "ft-exp2-v1", k=1)
    assert first.prompt == FT_PROBLEM + "SUBMISSIONS:\n1. None\n"
    assert render_loop_prompt(PROBLEM, [], None, "ft-exp2", k=1).prompt == P_PROBLEM + "\n\nSUBMISSIONS: 1. None\n"
    with pytest.raises(ValueError, match="single snapshots"):
        render_loop_prompt(PROBLEM, [], None, "ft-exp1")


def test_loop_turns_from_schema_attempts_and_hint_kwarg() -> None:
    grade = GradeResult(error_type="logical", passed=0, total=1, feedback="wrong answer")
    attempts = [
        Attempt(index=0, code="a = 1", grade=grade),
        Attempt(index=1, code="a = 2", grade=grade, hint="shown before attempt 2"),
    ]
    r = render_loop_prompt(PROBLEM, attempts, None, "ft-loop", hint="new hint")
    assert r.prompt.endswith(
        "SUBMISSIONS:\n"
        "1. <code>a = 1</code>\nFEEDBACK: wrong answer\nHINT: shown before attempt 2\n"
        "2. <code>a = 2</code>\nFEEDBACK: wrong answer\nHINT: new hint\n"
    )
    empty = render_loop_prompt(PROBLEM, [], None, "ft-loop", hint="start small")
    assert empty.prompt.endswith("SUBMISSIONS:\nNone\nHINT: start small\n")


def test_registry_and_helpers() -> None:
    paper = {"ft-exp1", "ft-exp1-ctx", "ft-exp2", "ft-exp2-ctx", "chat-exp1", "chat-exp1-ctx", "chat-exp2",
             "chat-exp2-ctx"}
    assert set(TEMPLATES) == paper | {f"{n}-v1" for n in paper} | {"ft-loop", "chat-loop", "ft-loop-solution", "chat-loop-solution"}
    assert all(TEMPLATES[n].layout == "paper" for n in paper)
    assert template_name("exp2", True) == "ft-exp2-ctx"
    assert template_name("exp2", True, layout="v1") == "ft-exp2-ctx-v1"
    assert template_name("exp1", False, kind="chat") == "chat-exp1"
    assert get_template("chat-exp2").stop == ()
    with pytest.raises(KeyError, match="known: ft-exp1"):
        get_template("nope")
    assert format_attempts([]) == "None"
    prompt, completion = render_ft(EXP2, PROBLEM)  # default: context because the example has one
    assert prompt == GOLDEN_FT["ft-exp2-ctx"][1] and completion == EXP2_DONE
    assert render_chat(EXP1, PROBLEM, context=False)[1]["content"] == GOLDEN_CHAT["chat-exp1"][1]
    with pytest.raises(ValueError, match="is for exp1"):
        render_example(EXP2, PROBLEM, "ft-exp1")
    with pytest.raises(ValueError, match="hw01_q1"):
        render_example(EXP1, Problem(id="other"))
    req = render_example(EXP2, PROBLEM, "ft-exp2").to_request(adapter="a1")
    assert req.prompt == GOLDEN_FT["ft-exp2"][1] and req.adapter == "a1" and req.stop
    assert req.sampling.temperature == 0.7 and req.sampling.top_k == 20


def test_exp2_not_final_has_no_submit_and_missing_context_is_none() -> None:
    ex = EXP2.model_copy(update={"is_final": False, "context": [], "context_problem_id": None})
    r = render_example(ex, PROBLEM, "ft-exp2-ctx")
    assert r.completion == "<code>def add(a, b):\n    return a + b</code>"
    assert r.prompt.startswith("PAST PROBLEM SUBMISSIONS: None\n\nPROBLEM INSTRUCTIONS: ")
    v1 = render_example(ex, PROBLEM, "ft-exp2-ctx-v1")
    assert v1.prompt.startswith("PAST PROBLEM SUBMISSIONS:\nNone\nPROBLEM INSTRUCTIONS:\n")
    last = EXP1.model_copy(update={"stage": "last", "is_final": True})
    assert render_example(last, PROBLEM, "ft-exp1").completion == EXP1_DONE  # exp1 never submits


@pytest.mark.parametrize(
    "text, code, submitted",
    [
        ("<code>def f():\n    return 1</code><SUBMIT>", "def f():\n    return 1", True),
        ("<code>def f():\n    return 1</code>", "def f():\n    return 1", False),
        ("<code>\ndef f():\n    return 1\n</code>\n", "def f():\n    return 1", False),
        ("<code>def f():\n    return 1", "def f():\n    return 1", False),  # no closing tag
        ("<code>def f():\n    return 1<SUBMIT>", "def f():\n    return 1", True),
        ("<code>x = 1\n<SUBMIT></code>", "x = 1", True),
        ("Sure!\n```python\ndef f():\n    return 2\n```\nDone", "def f():\n    return 2", False),
        ("```\nx = 3\n", "x = 3", False),  # fence never closed
        ("<code>```python\nx = 4\n```</code>", "x = 4", False),
        ("<code>a</code> then <code>b</code>", "a", False),  # first block wins
        ("x = 5\n<SUBMIT>", "x = 5", True),  # no markers at all: the whole text
        ("<code>if x:\r\n    y = 1</code>", "if x:\n    y = 1", False),
        ("<code>    indented = 1\n</code>", "    indented = 1", False),
    ],
)
def test_parse_completion(text: str, code: str, submitted: bool) -> None:
    assert parse_completion(text) == (code, submitted)


def test_parse_roundtrips_every_training_completion() -> None:
    for name in GOLDEN_FT:
        example = GOLDEN_FT[name][0]
        completion = render_example(example, PROBLEM, name).completion
        code, submitted = parse_completion(completion)
        assert code == example.target.replace("\r\n", "\n")
        assert submitted == (example.exp == "exp2" and example.is_final)
