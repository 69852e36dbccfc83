# %% [markdown]
# # Exploring the model directory
#
# Switchyard routes by *job*, not by model name: callers ask for a shortcut such as `smart` or
# `cheap`, and the directory (`directory/*.yaml`) says which model does that job today. This
# notebook loads the shipped directory, looks at what is in it, and shows how policy shortcuts
# pick their model. Nothing here calls a model.

# %%
from collections import Counter

from directory.loader import load_directory
from directory.policy import price_words
from serve_app.commands.route_cmd import explain_route

directory = load_directory()
print(directory)
print(Counter(model.provider for model in directory.models.values()))

# %% [markdown]
# ## Shortcuts and what they resolve to
#
# A shortcut either pins a model or states a policy (capability minimums, privacy, features and an
# objective). Policies are resolved when the directory loads, so a price change in `models.yaml`
# can move a policy's pick with no code change.

# %%
for name, shortcut in directory.shortcuts.items():
    model = directory.models[directory.resolved[name]]
    how = "pinned" if shortcut.model else f"policy: {shortcut.select.objective}"
    print(f"{name:14} → {model.id:40} {how:18} {price_words(model)}")

# %% [markdown]
# ## Why a policy picked its model
#
# `cheap` is the cheapest model that clears its capability minimums. Scores are pulled towards
# the middle as far as their source is weak (`confidence`), so a vendor's claim counts less than a
# third-party benchmark.

# %%
print(explain_route(directory, "cheap"))

# %% [markdown]
# ## Price against capability
#
# The confidence-adjusted reasoning score against the blended price (3:1 input:output, USD per
# million tokens) of every cloud chat model: the models a `cheapest` policy can choose from sit
# at the bottom right.

# %%
rows = sorted(
    (
        (model.pricing.blended(), model.scores.reasoning.adjusted(), model.id)
        for model in directory.models.values()
        if model.kind == "chat"
        and model.privacy == "cloud"
        and model.free_tier is None
        and model.scores is not None
    ),
)
for price, reasoning, model_id in rows:
    print(f"${price:8.3f}/Mtok  reasoning {reasoning:5.1f}  {model_id}")

# %% [markdown]
# ## The private chain stays local
#
# `private` keeps prompts on the cluster: its model, backup and secondary are all local models,
# and a request through it never reaches a cloud provider, even when every local model fails.

# %%
print(explain_route(directory, "private"))
