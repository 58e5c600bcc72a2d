namespace Sockeye;

/// <summary>
/// What <see cref="TcpServer.StopAsync(TimeSpan, CancellationToken)"/> did: how many connections were
/// open when stopping began, how many finished on their own within the drain timeout, and how many
/// had to be aborted.
/// </summary>
/// <param name="Open">Connections open when stopping began.</param>
/// <param name="Drained">Connections whose handlers finished within the drain timeout.</param>
/// <param name="Aborted">Connections still running at the deadline, which were aborted.</param>
/// <param name="Elapsed">How long stopping took, from the first step to the last.</param>
public readonly record struct ShutdownSummary(int Open, int Drained, int Aborted, TimeSpan Elapsed)
{
    /// <summary>Whether every connection finished on its own: nothing was aborted.</summary>
    public bool IsClean => Aborted == 0;
}
