"""ClassEval's two method-by-method strategies (Du et al., ICSE 2024): one model, no tiers, each
method asked for in one greedy call, as published (no visible-test retries).

`incremental`: methods in the task's part order (dependencies first), each prompt the skeleton
with the methods written so far in place. `compositional`: each method alone from the bare
skeleton. Both submit the class assembled from the methods the replies hold (a reply without
its method leaves the skeleton's stub); tokens, calls and seconds are summed over the calls.
"""

from __future__ import annotations

from collections.abc import Mapping

from langchain_core.messages import BaseMessage

from evals.baseline import SystemRun, complete
from graph.context import Context
from hi_moe.llm.prompting import GREEDY, render
from hi_moe.problems.class_code import assemble_class, method_source, new_imports
from hi_moe.problems.classeval import ClassTask


def method_prompt(
    template: str, task: ClassTask, method: str, code: str, context: Context
) -> list[BaseMessage]:
    """Template `template` asking for `method` of the class shown as `code`."""
    return render(
        template,
        context.class_prompt_tokens,
        class_name=task.class_name,
        method=method,
        skeleton=code.rstrip(),
    )


def assembled(task: ClassTask, methods: Mapping[str, str], imports: list[str]) -> str:
    """The skeleton with `methods` in place and the replies' extra imports first."""
    extra = "".join(dict.fromkeys(imports))
    return assemble_class(task.skeleton, task.class_name, methods, extra)


def method_by_method(
    context: Context, task: ClassTask, thread_id: str, tier: str, sees_written: bool
) -> SystemRun:
    """One greedy call per method in part order (logged under `tier`, prompt `class_{tier}`);
    `sees_written`: each prompt shows the class with the methods written so far."""
    run = SystemRun()
    methods: dict[str, str] = {}
    imports: list[str] = []
    for part in task.parts:
        shown = assembled(task, methods, imports) if sees_written else task.skeleton
        messages = method_prompt(f"class_{tier}", task, part.entry_point, shown, context)
        cap = context.method_completion_tokens
        reply = run.add(complete(context, messages, GREEDY, thread_id, tier, cap))
        source = method_source(reply.code, part.entry_point, task.class_name)
        if source:
            methods[part.entry_point] = source
            imports += new_imports(reply.code, task.skeleton).splitlines(keepends=True)
        else:
            run.unanswered.append(part.entry_point)
    run.assembled = assembled(task, methods, imports)
    return run


def incremental(context: Context, task: ClassTask, thread_id: str) -> SystemRun:
    """Each method's prompt holds the methods written before it."""
    return method_by_method(context, task, thread_id, "incremental", sees_written=True)


def compositional(context: Context, task: ClassTask, thread_id: str) -> SystemRun:
    """Each method from the bare skeleton, then all assembled."""
    return method_by_method(context, task, thread_id, "compositional", sees_written=False)
