"""The one table of default values: the run config, the scikit-learn estimator and the LLM config read these.

Each value states its rule and the reason. A default that depends on the data or on another setting (``auto``) is not
here: it is a rule in :mod:`ltr_hyperdpo.training.auto`, recorded resolved in every run's ``plan.json``.
"""
from __future__ import annotations

#: Dirichlet concentration of the training weights w ~ Dirichlet(α). Below 1 the draws lean towards the edges and
#: vertices of the simplex, where users usually start choosing a trade-off; at 1 they are uniform.
ALPHA = 0.3
#: DPO temperature β of the implicit reward β·(s_θ − s_ref) on ranking scores: 1 keeps the fine-tuned scores on the
#: scale the reference was trained on.
BETA = 1.0
#: the range β is drawn from for a temperature-conditioned model (its geometric mean is the default β).
BETA_RANGE = (0.5, 2.0)
#: AdamW learning rate of both stages: the usual Adam step for MLP and small-transformer rankers on normalised inputs.
LR = 1e-3
#: epochs of each stage (an upper bound: early stopping on validation ends a stage sooner).
EPOCHS = 20
#: epochs without a better validation metric before a stage stops (the best epoch's weights are kept).
PATIENCE = 5
#: AdamW decoupled weight decay: a light regulariser that does not move a well-fitted reference.
WEIGHT_DECAY = 1e-5
#: gradient-norm clipping of the ranking stages: guards PL losses of long lists against a single extreme batch.
GRAD_CLIP = 5.0
#: lists per batch of the ranking stages.
BATCH_SIZE = 32
#: documents per list kept for training (a longer list is sampled down each epoch): MSLR lists average about 120.
SLATE_LENGTH = 120
#: share of the training queries held out for validation when no validation split is given.
VALI_FRACTION = 0.15
#: the MLP's hidden widths: enough for MSLR's 136 features, small enough for CPU training.
HIDDEN = (256, 128)
#: dropout of the scorers.
DROPOUT = 0.1
#: single-objective loss of the reference stage: ListNet is stable, convex in the scores and tie-free.
REFERENCE_LOSS = "listnet"
#: the conditioning network learns at this multiple of the stage-2 learning rate: the trunk moves slowly (the
#: reference's ranking is kept at w = e_main), the trade-off head fast.
COND_LR_MULT = 2.0
#: the run seed.
SEED = 0

# The LLM trainer fine-tunes hyper prompts of a causal LM on lists of responses. Its β and learning rate differ by
# domain, not by taste: a response's log-probability is a sum over its tokens, so reward differences are tens of nats
# (β 0.1, as DPO for language models uses), and only the small prompt network learns (a larger step, 3e-3).
#: β of the LLM trainer.
LLM_BETA = 0.1
#: the β range of a temperature-conditioned LLM.
LLM_BETA_RANGE = (0.05, 0.5)
#: learning rate of the LLM's prompt network (and adapters).
LLM_LR = 3e-3
#: gradient-norm clipping of the LLM trainer, as is usual for transformer LMs.
LLM_GRAD_CLIP = 1.0
#: the decoding guard against repetition loops of ``llm-generate`` and generated fronts: no token n-gram of this
#: size occurs twice in one generated response (Hugging Face's ``no_repeat_ngram_size``; 0 = off). Why: small
#: instruction models fall into loops under greedy decoding (a phrase repeated until the token budget ends); every
#: periodic loop repeats its n-grams, so it is cut after one period, while a normal answer of a few hundred tokens
#: rarely repeats six tokens verbatim (a shorter n, such as 3, would also forbid ordinary phrases such as "of the
#: model" used twice). The reference model and every weight decode under the same guard.
LLM_NO_REPEAT_NGRAM = 6
#: LoRA adapters are added to the hyper prompts (``lora: auto``) for base models of at least this many parameters.
LLM_LORA_MIN_PARAMETERS = 50_000_000
#: the adapters ``lora: auto`` adds: rank 8 per objective on the attention's query and value projections (the LoRA
#: paper's choice of modules and rank), one block per objective mixed by w (``per_objective``). Why per objective: an
#: adapter shared by every w cannot depend on w, so it learns the direction of the weight mixture (dominated by the
#: objective whose label orders pairs most consistently) and leaves the steering to the soft prompts, which move a
#: deep model's later tokens little; blocks mixed by w condition every trained weight, as the MLP's per-objective
#: heads do.
LLM_LORA = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "target_modules": ["q_proj", "v_proj"],
            "per_objective": True}
#: ``lora_lr`` = ``lr`` times this when not given. Why: the prompt network starts from scratch and needs large steps
#: (3e-3), while adapters perturb a trained model at every position; LoRA fine-tuning of language models uses
#: 1e-4 to 5e-4 (the LoRA paper, trl's examples), a tenth of the prompt network's step.
LLM_LORA_LR_SCALE = 0.1
