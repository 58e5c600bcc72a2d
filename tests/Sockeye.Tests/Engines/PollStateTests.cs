using System.Diagnostics;
using Sockeye.Transport.Epoll;

namespace Sockeye.Tests.Engines;

/// <summary>
/// <see cref="PollState"/>, the lock-free wait word between a reader or writer (waiting after
/// <c>EAGAIN</c>) and the poll thread (reporting edges) or a closing thread: every interleaving of
/// edges, waits and the close wakes each wait exactly once and loses no edge.
/// </summary>
public sealed class PollStateTests
{
    private enum Step
    {
        Edge,
        Wait,
        Close,
    }

    [Fact]
    public void EveryInterleavingOfEdgesWaitsAndCloseWakesEachWaitOnceAndLosesNoEdge()
    {
        var checkedSequences = 0;
        foreach (var sequence in Sequences(6))
        {
            Check(sequence);
            checkedSequences++;
        }

        Assert.True(checkedSequences > 500, $"only {checkedSequences} interleavings were checked");
    }

    [Theory]
    [InlineData("Edge,Wait", PollState.Ready)]         // edge before wait: not lost
    [InlineData("Wait", PollState.Waiting)]            // nothing yet: sleep
    [InlineData("Close,Wait", PollState.Closed)]       // closed: never sleep
    [InlineData("Edge,Close,Wait", PollState.Closed)]
    public void AWaitAfterEarlierStepsReturnsWhatThoseStepsLeft(string steps, int expected)
    {
        var state = PollState.Idle;
        var last = -1;
        foreach (var step in steps.Split(','))
        {
            last = Apply(ref state, Enum.Parse<Step>(step), out _);
        }

        Assert.Equal(expected, last);
    }

    [Fact]
    public void AWaitBeforeTheEdgeIsWokenByThatEdgeAndOnlyByIt()
    {
        var state = PollState.Idle;
        Assert.Equal(PollState.Waiting, PollState.BeginWait(ref state));
        Assert.True(PollState.Signal(ref state), "the first edge wakes the waiter");
        Assert.False(PollState.Signal(ref state), "a second edge wakes nobody (it is kept as Ready)");
        Assert.False(PollState.Close(ref state), "nor does the close: nobody waits");
        Assert.Equal(PollState.Closed, PollState.BeginWait(ref state));
    }

    [Fact]
    public void AWaitBeforeTheCloseIsWokenByTheCloseAndNotAgainByALateEdge()
    {
        var state = PollState.Idle;
        Assert.Equal(PollState.Waiting, PollState.BeginWait(ref state));
        Assert.True(PollState.Close(ref state));
        Assert.False(PollState.Signal(ref state));
        Assert.Equal(PollState.Closed, state);
    }

    [Fact]
    public async Task UnderRacingThreadsEveryEdgeIsSeenAndEveryWaitWokenOnce()
    {
        // The poll thread produces an edge, then waits (bounded) until the waiter has looked past it:
        // an edge lost between the waiter's look and its wait would leave both stuck, and time out.
        const int Edges = 20_000;
        var state = PollState.Idle;
        var produced = 0;
        var seen = 0;
        var sleeps = 0;
        var wakeUps = 0;
        using var wake = new SemaphoreSlim(0);
        var limit = TimeSpan.FromSeconds(30);

        var waiter = Task.Factory.StartNew(() =>
        {
            while (true)
            {
                Volatile.Write(ref seen, Volatile.Read(ref produced)); // the look (a recv that drains)
                switch (PollState.BeginWait(ref state))
                {
                    case PollState.Waiting:
                        Interlocked.Increment(ref sleeps);
                        if (!wake.Wait(limit))
                        {
                            throw new TimeoutException($"a wait was never woken (seen {Volatile.Read(ref seen)} of {Volatile.Read(ref produced)} edges)");
                        }

                        break;
                    case PollState.Ready:
                        break; // an edge came since the look: look again
                    default:
                        Volatile.Write(ref seen, Volatile.Read(ref produced));
                        return;
                }
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        var poll = Task.Factory.StartNew(() =>
        {
            var clock = Stopwatch.StartNew();
            for (var i = 1; i <= Edges; i++)
            {
                Volatile.Write(ref produced, i);
                if (PollState.Signal(ref state))
                {
                    Interlocked.Increment(ref wakeUps);
                    wake.Release();
                }

                var spin = default(SpinWait);
                while (Volatile.Read(ref seen) < i)
                {
                    if (clock.Elapsed > limit)
                    {
                        throw new TimeoutException($"edge {i} was lost: the waiter saw {Volatile.Read(ref seen)}");
                    }

                    spin.SpinOnce(sleep1Threshold: -1);
                }
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        await poll.WaitAsync(limit + limit);
        if (PollState.Close(ref state))
        {
            Interlocked.Increment(ref wakeUps);
            wake.Release();
        }

        await waiter.WaitAsync(limit + limit);
        Assert.Equal(Edges, seen);
        Assert.Equal(sleeps, wakeUps); // every sleep woken exactly once ...
        Assert.Equal(0, wake.CurrentCount); // ... and no wake-up left over for nobody
    }

    /// <summary>Runs <paramref name="sequence"/> against a model of one waiter and checks each answer.</summary>
    private static void Check(Step[] sequence)
    {
        var state = PollState.Idle;
        var waiting = false;
        var closed = false;
        var edgeUnseen = false; // an edge came since the waiter last looked
        var trace = string.Join(",", sequence);
        foreach (var step in sequence)
        {
            var answer = Apply(ref state, step, out var woke);
            switch (step)
            {
                case Step.Edge:
                    Assert.True(woke == (waiting && !closed), $"{trace}: an edge wakes exactly a waiting waiter");
                    if (woke)
                    {
                        waiting = false; // it wakes and looks: this edge is seen
                    }
                    else if (!closed)
                    {
                        edgeUnseen = true;
                    }

                    break;
                case Step.Close:
                    Assert.True(woke == waiting, $"{trace}: the close wakes exactly a waiting waiter");
                    waiting = false;
                    closed = true;
                    break;
                case Step.Wait:
                    var expected = closed ? PollState.Closed : edgeUnseen ? PollState.Ready : PollState.Waiting;
                    Assert.True(answer == expected, $"{trace}: a wait answered {answer}, expected {expected}");
                    waiting = answer == PollState.Waiting;
                    edgeUnseen = false; // Ready: the waiter looks again
                    break;
            }
        }
    }

    private static int Apply(ref int state, Step step, out bool woke)
    {
        woke = false;
        switch (step)
        {
            case Step.Edge:
                woke = PollState.Signal(ref state);
                return -1;
            case Step.Close:
                woke = PollState.Close(ref state);
                return -1;
            default:
                return PollState.BeginWait(ref state);
        }
    }

    /// <summary>Every sequence of up to <paramref name="length"/> steps in which the one waiter waits
    /// only when it is not already waiting.</summary>
    private static IEnumerable<Step[]> Sequences(int length)
    {
        var steps = new[] { Step.Edge, Step.Wait, Step.Close };
        var current = new List<Step>();
        return Extend(current, waiting: false);

        IEnumerable<Step[]> Extend(List<Step> prefix, bool waiting)
        {
            if (prefix.Count > 0)
            {
                yield return [.. prefix];
            }

            if (prefix.Count == length)
            {
                yield break;
            }

            foreach (var step in steps)
            {
                if (step == Step.Wait && waiting)
                {
                    continue;
                }

                // Whether the waiter sleeps after this step, from the real state machine.
                var state = PollState.Idle;
                var sleeping = false;
                foreach (var s in prefix.Append(step))
                {
                    var answer = Apply(ref state, s, out var woke);
                    sleeping = s == Step.Wait ? answer == PollState.Waiting : sleeping && !woke;
                }

                prefix.Add(step);
                foreach (var sequence in Extend(prefix, sleeping))
                {
                    yield return sequence;
                }

                prefix.RemoveAt(prefix.Count - 1);
            }
        }
    }
}
