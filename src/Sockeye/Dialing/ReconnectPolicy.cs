namespace Sockeye.Dialing;

/// <summary>
/// How <see cref="Dialer"/> retries a failed dial: up to <see cref="MaxAttempts"/> dials, waiting
/// between them with exponential back-off (<see cref="InitialDelay"/>, doubling, at most
/// <see cref="MaxDelay"/>) spread by random <see cref="Jitter"/> so that many clients that lost the same
/// server do not come back in lock-step.
/// </summary>
/// <remarks>
/// The wait before retry <c>n</c> (1 for the second dial) is
/// <c>min(MaxDelay, InitialDelay × 2^(n−1)) × (1 ± Jitter)</c>, the same shape as gRPC's connection
/// back-off. Every kind of <see cref="DialException"/> is retried, a name that does not resolve
/// included (DNS records appear late while services restart). Immutable; share one instance.
/// </remarks>
public sealed record ReconnectPolicy
{
    /// <summary>The most dials made in total, the first included; the last error is thrown after it.</summary>
    /// <remarks>Default: 10. With the other defaults, the last dial happens about 25 seconds after the
    /// first: long enough to ride out a server restart, short enough to report a real outage.</remarks>
    public int MaxAttempts { get; init; } = 10;

    /// <summary>The wait before the first retry.</summary>
    /// <remarks>Default: 100 ms. Shorter reconnects sooner after a blip; longer spares a server that is
    /// struggling to come back.</remarks>
    public TimeSpan InitialDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest wait between two dials, before jitter.</summary>
    /// <remarks>Default: 5 seconds.</remarks>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The fraction by which each wait is randomly lengthened or shortened, from 0 (none) to 1.</summary>
    /// <remarks>Default: 0.2 (±20%, as gRPC). Without jitter, clients cut off together retry together
    /// and hit the restarted server as one burst.</remarks>
    public double Jitter { get; init; } = 0.2;

    /// <summary>Called before each wait with the error of the dial that failed, the number of that
    /// dial (1 for the first), and the wait before the next; for logging or counting retries.</summary>
    public Action<DialException, int, TimeSpan>? OnRetry { get; init; }

    /// <summary>The wait before retry <paramref name="retry"/> (1 for the wait after the first failed dial), with jitter.</summary>
    /// <param name="retry">Which retry, from 1.</param>
    public TimeSpan DelayBefore(int retry) => DelayBefore(retry, Random.Shared.NextDouble());

    /// <summary>Checks every setting and throws an <see cref="ArgumentException"/> naming the first one out of range.</summary>
    /// <exception cref="ArgumentException">A setting has a value the dialer cannot use.</exception>
    public void Validate()
    {
        Require(MaxAttempts >= 1, nameof(MaxAttempts), MaxAttempts, "must be at least 1");
        Require(InitialDelay >= TimeSpan.Zero, nameof(InitialDelay), InitialDelay, "must not be negative");
        Require(MaxDelay >= InitialDelay, nameof(MaxDelay), MaxDelay, "must be at least InitialDelay");
        Require(Jitter is >= 0 and <= 1, nameof(Jitter), Jitter, "must be between 0 and 1");
    }

    /// <summary>The wait before retry <paramref name="retry"/>, given a uniform random number in [0, 1).</summary>
    internal TimeSpan DelayBefore(int retry, double random)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(retry, 1);
        var exponent = Math.Min(retry - 1, 62);
        var ticks = Math.Min(MaxDelay.Ticks, InitialDelay.Ticks * Math.Pow(2, exponent));
        var spread = 1 + (Jitter * ((random * 2) - 1));
        return TimeSpan.FromTicks((long)(ticks * spread));
    }

    private static void Require(bool condition, string name, object value, string rule)
    {
        if (!condition)
        {
            throw new ArgumentException($"{name} {rule}, got {value}", name);
        }
    }
}
