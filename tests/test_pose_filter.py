"""Pose filter: a hand-computed Kalman step, the gate, the sideslip constraint, and tracking a noisy track."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keras_lmk.geometry.camera import Pose
from keras_lmk.localization.pose_filter import FilterConfig, PoseFilter, diag_cov
from keras_lmk.localization.pose_solver import pose_error, wrap_angle


def test_one_update_is_the_scalar_kalman_gain_per_axis():
    # P = diag(4, 4, 4, 0.01) (position/yaw uncorrelated with the velocity at reset), R = diag(1, 1, 1, 0.01):
    # gain 4 / (4 + 1) = 0.8 on x, y, z and 0.5 on yaw; posterior variance 4 * 1 / 5 = 0.8 and 0.005
    f = PoseFilter(Pose(0, 0, 0, 0), diag_cov(2.0, 0.1))
    assert f.update(Pose(1.0, -2.0, 0.5, 0.1), diag_cov(1.0, 0.1), gate=False)
    np.testing.assert_allclose(f.x[:4], [0.8, -1.6, 0.4, 0.05], atol=1e-12)
    np.testing.assert_allclose(np.diag(f.P)[:4], [0.8, 0.8, 0.8, 0.005], atol=1e-12)
    np.testing.assert_allclose(f.x[4:], 0.0)  # no correlation yet: the velocity is not touched
    assert f.sigmas == pytest.approx((math.sqrt(2.4), math.sqrt(0.005)))


def test_predict_is_constant_velocity_with_white_acceleration_noise():
    cfg = FilterConfig(accel_m=0.2, yaw_accel_rad=0.01)
    f = PoseFilter(Pose(1.0, 2.0, 0.0, 0.0), np.zeros((4, 4)), cfg)
    f.x[4:] = [1.0, -0.5, 0.0, 0.02]
    p_v = f.P[4, 4]  # the velocity variance set by reset
    f.predict()
    np.testing.assert_allclose(f.x[:4], [2.0, 1.5, 0.0, 0.02])
    # x variance: 0 + p_v * dt^2 + q / 4 (q = accel^2 = 0.04); x-vx covariance p_v + q / 2
    assert f.P[0, 0] == pytest.approx(p_v + 0.04 / 4)
    assert f.P[0, 4] == pytest.approx(p_v + 0.04 / 2)
    assert f.P[4, 4] == pytest.approx(p_v + 0.04)


def test_yaw_wraps_across_pi():
    f = PoseFilter(Pose(0, 0, 0, math.pi - 0.01), diag_cov(1.0, 0.1))
    # a measurement just across the wrap: the innovation is +0.02 rad, not -2 pi + 0.02
    innov, _, _ = f.innovation(Pose(0, 0, 0, -math.pi + 0.01), diag_cov(1.0, 0.1))
    assert innov[3] == pytest.approx(0.02)
    f.update(Pose(0, 0, 0, -math.pi + 0.01), diag_cov(1.0, 0.1), gate=False)
    assert abs(wrap_angle(f.pose.yaw - math.pi)) < 1e-9  # halfway between: on the wrap, not at 0


def test_sideslip_constraint_turns_the_velocity_along_the_heading():
    f = PoseFilter(Pose(0, 0, 0, 0.0), diag_cov(0.01, 0.001))  # heading east, well known
    f.x[4:6] = [2.0, 0.5]  # moving east and a little north: 0.5 m / frame sideways
    f.P[4:6, 4:6] = np.eye(2)
    f.constrain_sideslip(0.01)
    # sideways velocity (vy at yaw 0) is pulled to ~0 (its variance 1 against 1e-4); vx untouched
    assert abs(f.x[5]) < 0.01 and f.x[4] == pytest.approx(2.0, abs=1e-6)
    assert f.P[5, 5] < 1e-3


def test_filter_tracks_a_constant_velocity_track():
    rng = np.random.default_rng(0)
    v, vyaw = np.array([1.5, 0.5, 0.0]), math.radians(0.4)

    def truth(t):  # crosses yaw = +-pi around t = 25
        return Pose(10 + v[0] * t, -3 + v[1] * t, 0.0, float(wrap_angle(math.pi - 0.17 + vyaw * t)))

    meas_sigma, yaw_sigma = 0.3, math.radians(0.5)
    f = PoseFilter(truth(0), diag_cov(2.0, 0.05), FilterConfig(accel_m=0.01, yaw_accel_rad=1e-4))
    errs = []
    for t in range(1, 80):
        f.predict()
        tp = truth(t)
        noisy = Pose(tp.x + rng.normal() * meas_sigma, tp.y + rng.normal() * meas_sigma, tp.z,
                     tp.yaw + rng.normal() * yaw_sigma)  # fmt: skip
        assert f.update(noisy, diag_cov(meas_sigma, yaw_sigma))
        if t >= 40:
            errs.append(pose_error(f.pose, tp))
    np.testing.assert_allclose(f.velocity[:2], v[:2], atol=0.05)
    assert abs(f.velocity[3] - vyaw) < math.radians(0.1)
    rms = math.sqrt(np.mean([e["pos_err_m"] ** 2 for e in errs]))
    assert rms < 0.6 * meas_sigma * math.sqrt(2)  # smoother than one 2-D measurement
    assert max(e["heading_err_deg"] for e in errs) < 0.5  # no jump at the +-pi wrap


def test_filter_gate_rejects_a_far_fix_and_prediction_extrapolates():
    f = PoseFilter(Pose(0, 0, 0, 0), diag_cov(0.1, 0.01), FilterConfig())
    f.x[4] = 2.0  # 2 m / frame east
    f.predict()
    assert f.pose.x == pytest.approx(2.0)
    assert not f.update(Pose(12.0, 0, 0, 0), diag_cov(0.1, 0.01))
    assert f.pose.x == pytest.approx(2.0)
    assert f.update(Pose(2.1, 0, 0, 0), diag_cov(0.1, 0.01))


# ---------------------------------------------------------- contracts pinned by mutation testing (issue 33)


def test_process_noise_is_the_discrete_white_acceleration_model_on_every_axis():
    # from a certain state, one predict adds Q = q [[1/4, 1/2], [1/2, 1]] per axis (dt = 1), q = accel^2 on
    # x, y, z and yaw_accel^2 on yaw, with no coupling between axes
    cfg = FilterConfig(accel_m=0.2, yaw_accel_rad=0.01)
    f = PoseFilter(Pose(0, 0, 0, 0), np.zeros((4, 4)), cfg)
    f.P[:] = 0.0
    f.predict()
    q = np.array([0.04, 0.04, 0.04, 1e-4])
    want = np.block([[np.diag(q / 4), np.diag(q / 2)], [np.diag(q / 2), np.diag(q)]])
    np.testing.assert_allclose(f.P, want, atol=1e-15)


def test_reset_keeps_a_given_velocity_and_sets_the_attitude():
    f = PoseFilter(Pose(0, 0, 0, 0), diag_cov(1.0, 0.1))
    f.reset(Pose(5.0, 6.0, 0.5, 0.3, 0.01, -0.02), diag_cov(2.0, 0.2), velocity=[1.0, 2.0, 0.0, 0.05])
    np.testing.assert_allclose(f.x, [5.0, 6.0, 0.5, 0.3, 1.0, 2.0, 0.0, 0.05])
    np.testing.assert_allclose(f.P[:4, :4], diag_cov(2.0, 0.2))
    # velocity unknown after a reset: 1 (m / frame)^2 on each axis and (3 deg / frame)^2 on yaw
    np.testing.assert_allclose(np.diag(f.P)[4:], [1.0, 1.0, 1.0, math.radians(3.0) ** 2])
    assert (f.pitch, f.roll) == (0.01, -0.02)
    f.set_attitude(0.03, 0.04)
    assert (f.pitch, f.roll) == (0.03, 0.04) and f.pose.pitch == 0.03


def test_sideslip_constraint_is_the_textbook_scalar_update_with_a_sideways_velocity():
    # lateral velocity l = -sin(yaw) vx + cos(yaw) vy, measured as 0 with sigma 0.1; its gradient over (yaw,
    # vx, vy) is (-cos(yaw) vx - sin(yaw) vy, -sin(yaw), cos(yaw)); the update is x + k (0 - l) with
    # k = P h / (h P h + sigma^2) and the posterior (I - k h) P
    f = PoseFilter(Pose(0, 0, 0, math.radians(4)), diag_cov(0.5, math.radians(3)))
    f.x[4:6] = [2.0, 0.3]
    f.P[4:6, 4:6] = 0.05**2 * np.eye(2)
    x0, p0 = f.x.copy(), f.P.copy()
    yaw, vx, vy = x0[3], x0[4], x0[5]
    h = np.zeros(8)
    h[3], h[4], h[5] = -math.cos(yaw) * vx - math.sin(yaw) * vy, -math.sin(yaw), math.cos(yaw)
    k = p0 @ h / (h @ p0 @ h + 0.1**2)
    f.constrain_sideslip(0.1)
    np.testing.assert_allclose(f.x, x0 + k * (0.0 - (-math.sin(yaw) * vx + math.cos(yaw) * vy)), atol=1e-12)
    np.testing.assert_allclose(f.P, (np.eye(8) - np.outer(k, h)) @ p0, atol=1e-12)
