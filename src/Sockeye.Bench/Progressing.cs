using System.Diagnostics;

namespace Sockeye.Bench;

/// <summary>Waiting for work that may take long but must keep moving: the end of a run, where a participant
/// proves every connection again (minutes at a million) and a stalled one must still be given up on.</summary>
internal static class Progressing
{
    /// <summary>Waits for <paramref name="task"/> while <paramref name="count"/> keeps changing; returns true
    /// when it completed, false once the count has stood still for <paramref name="stallLimit"/>.</summary>
    public static async Task<bool> WaitAsync(Task task, Func<long> count, TimeSpan stallLimit, CancellationToken cancellationToken)
    {
        var seen = count();
        var lastChange = Stopwatch.GetTimestamp();
        while (!task.IsCompleted)
        {
            try
            {
                await task.WaitAsync(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }

            var now = count();
            if (now != seen)
            {
                seen = now;
                lastChange = Stopwatch.GetTimestamp();
            }
            else if (!task.IsCompleted && Stopwatch.GetElapsedTime(lastChange) > stallLimit)
            {
                return false;
            }
        }

        await task.ConfigureAwait(false); // its exception, if it failed
        return true;
    }
}
