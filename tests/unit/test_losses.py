import math

import numpy as np
import pytest
import torch

from healthnn.losses import breslow_cumulative_hazard, cox_ph_loss, logistic_hazard_loss


def efron_reference(f, t, e):
    """Direct transcription of Efron's partial likelihood, one tied group at a time."""
    ll, n_events = 0.0, e.sum()
    for time in np.unique(t[e == 1]):
        tied = (t == time) & (e == 1)
        risk = np.exp(f[t >= time]).sum()
        tied_sum = np.exp(f[tied]).sum()
        d = tied.sum()
        ll += f[tied].sum() - sum(math.log(risk - l / d * tied_sum) for l in range(d))
    return -ll / n_events


def breslow_reference(f, t, e):
    ll = 0.0
    for i in np.flatnonzero(e == 1):
        ll += f[i] - math.log(np.exp(f[t >= t[i]]).sum())
    return -ll / e.sum()


@pytest.mark.parametrize("seed", range(5))
def test_cox_loss_matches_reference_with_ties(seed):
    r = np.random.default_rng(seed)
    n = 60
    f = r.normal(size=n)
    t = r.integers(1, 12, n).astype(float)  # many ties
    e = (r.random(n) < 0.6).astype(float)
    e[0] = 1
    got = cox_ph_loss(torch.tensor(f), torch.tensor(t), torch.tensor(e)).item()
    assert got == pytest.approx(efron_reference(f, t, e), rel=1e-9)
    got_b = cox_ph_loss(torch.tensor(f), torch.tensor(t), torch.tensor(e), ties="breslow").item()
    assert got_b == pytest.approx(breslow_reference(f, t, e), rel=1e-9)


def test_cox_loss_no_events_is_zero_with_gradient():
    f = torch.randn(8, requires_grad=True)
    loss = cox_ph_loss(f, torch.arange(8.0), torch.zeros(8))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(f.grad).all()


def test_cox_loss_stable_for_large_scores():
    f = torch.tensor([500.0, 400.0, -300.0])
    loss = cox_ph_loss(f, torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 1.0, 1.0]))
    assert torch.isfinite(loss)


def test_linear_cox_fit_matches_scikit_survival():
    sksurv = pytest.importorskip("sksurv.linear_model")
    from sksurv.util import Surv

    r = np.random.default_rng(0)
    n = 300
    X = r.normal(size=(n, 3))
    t = np.ceil(r.exponential(np.exp(-X @ np.array([0.8, -0.5, 0.0])) * 10))  # ties
    c = r.uniform(2, 30, n)
    e = t <= c
    t = np.minimum(t, np.ceil(c))
    ref = sksurv.CoxPHSurvivalAnalysis(ties="efron").fit(X, Surv.from_arrays(e, t))
    beta = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    Xt, tt, et = torch.tensor(X), torch.tensor(t), torch.tensor(e.astype(float))
    opt = torch.optim.LBFGS([beta], lr=1, max_iter=200, tolerance_grad=1e-12,
                            tolerance_change=1e-14, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = cox_ph_loss(Xt @ beta, tt, et)
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_allclose(beta.detach().numpy(), ref.coef_, atol=1e-5)
    # Breslow baseline for the same coefficients
    times, cumhaz = breslow_cumulative_hazard(Xt @ torch.tensor(ref.coef_), tt, et)
    fn = ref.cum_baseline_hazard_
    # sksurv also lists censoring-only times (zero increments): compare the step functions
    at = np.searchsorted(times.numpy(), fn.x, side="right") - 1
    ours = np.where(at >= 0, cumhaz.numpy()[np.clip(at, 0, None)], 0.0)
    np.testing.assert_allclose(ours, fn.y, rtol=1e-6)


def test_logistic_hazard_matches_loop():
    r = np.random.default_rng(1)
    logits = torch.tensor(r.normal(size=(7, 4)))
    idx = torch.tensor([0, 1, 2, 3, 3, 1, 0])
    ev = torch.tensor([1, 0, 1, 0, 1, 1, 0])
    h = torch.sigmoid(logits).numpy()
    ref = 0.0
    for i in range(7):
        k = int(idx[i])
        ref -= np.log(1 - h[i, :k]).sum()
        ref -= np.log(h[i, k]) if ev[i] else 0.0
    assert logistic_hazard_loss(logits, idx, ev).item() == pytest.approx(ref / 7, rel=1e-9)
