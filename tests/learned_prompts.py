"""Two MMLU questions (RouteLLM's tables, Apache-2.0: shared/routing-eval/) that the shipped
router (directory/routers/mmlu-gpt4-mixtral.json) scores far apart: a recall question it trusts
the cheap model with, and an arithmetic one it keeps on the strong model. Checked offline in
tests/serve_app/test_router_train.py, used live in tests/integration/test_routing_learned.py."""

EASY = (
    "Which structure is found in the inner ear?\n"
    "A. hammer\nB. basilar membrane\nC. tympanic membrane\nD. pinna\nAnswer:"
)
HARD = (
    "Find the number that makes the statement true: 0.32 g = _ cg.\n"
    "A. 32\nB. 3.2\nC. 3,200\nD. 320\nAnswer:"
)
