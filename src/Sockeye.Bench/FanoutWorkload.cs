using System.Buffers.Text;
using System.Diagnostics;
using System.Text;

namespace Sockeye.Bench;

/// <summary>
/// <c>bench fanout</c>: chat rooms (docs/CHAT.md). <see cref="BenchSettings.Subscribers"/> subscribers
/// <c>NICK s&lt;i&gt;</c> and <c>JOIN room&lt;i % R&gt;</c>; then <see cref="BenchSettings.Publishers"/>
/// publishers <c>NICK p&lt;j&gt;</c> and <c>JOIN room&lt;j % R&gt;</c> and each sends
/// <c>MSG room&lt;j % R&gt; &lt;seq&gt; &lt;stamp&gt; &lt;padding&gt;</c> at <see cref="BenchSettings.Rate"/>
/// messages per second. Every member (publishers too: they are in the room) parses what it receives
/// and records the delivery latency, now − stamp. An operation is one delivery.
/// </summary>
/// <remarks>
/// <para>Open loop: message k of a publisher is due at start + k / rate, and its stamp is that due time,
/// so a server that stalls is charged for every message it delayed (coordinated-omission correction,
/// as in echo's <c>--rate</c>). A publisher that fell behind sends what is due in one write.</para>
/// <para>Which messages are measured is decided by sequence number, not by clock: the first message a
/// publisher stamps after the window opened is its first measured one, recorded before it is sent, so
/// a member classifies each delivery exactly as its publisher counted it. The expected deliveries are
/// then exact: each measured message of publisher j goes to every member of its room but j
/// (members − 1). Deliveries of measured messages still arrive after the window closes: the run waits
/// for them (<see cref="DrainLimit"/>, or until nothing arrives for <see cref="DrainQuiet"/>) and
/// records their latency too; what never arrives is lost.</para>
/// <para>A subscriber whose connection the server ends before the run does is counted as
/// disconnected (the server's slow-consumer policy), not as an error; a publisher's is an error,
/// because the load it was to apply stopped.</para>
/// </remarks>
internal sealed class FanoutWorkload(BenchSettings settings) : Workload(settings)
{
    /// <summary>The longest the run waits after the window for deliveries of the window's messages.</summary>
    public static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(5);

    /// <summary>The wait for deliveries also ends when none arrived for this long.</summary>
    public static readonly TimeSpan DrainQuiet = TimeSpan.FromSeconds(1);

    // The most due messages one write carries when a publisher is behind.
    private const int MaxBatch = 64;

    private ChatMember?[] _members = [];
    private int[] _roomMembers = [];

    // Per publisher: the sequence number of its first measured message (long.MaxValue until the window
    // opens) and of the last message handed to the kernel.
    private long[] _firstMeasured = [];
    private long[] _lastSent = [];
    private volatile bool _windowOpen;
    private volatile bool _closing;
    private long _disconnectedSubscribers;
    private long _disconnectedPublishers;

    public override async Task PrepareAsync(CancellationToken cancellationToken)
    {
        var subscribers = Settings.Subscribers;
        var publishers = Settings.Publishers;
        _members = new ChatMember?[subscribers + publishers];
        _roomMembers = new int[Settings.Rooms];
        _firstMeasured = Enumerable.Repeat(long.MaxValue, publishers).ToArray();
        _lastSent = new long[publishers];
        // Subscribers first, then publishers, so that no message is published before every subscriber is in.
        await JoinAllAsync(0, subscribers, cancellationToken).ConfigureAwait(false);
        await JoinAllAsync(subscribers, publishers, cancellationToken).ConfigureAwait(false);
    }

    private Task JoinAllAsync(int first, int count, CancellationToken cancellationToken)
    {
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = Settings.ConnectConcurrency, CancellationToken = cancellationToken };
        return Parallel.ForEachAsync(Enumerable.Range(first, count), parallel, async (index, token) =>
        {
            var publisher = index - Settings.Subscribers;
            var nick = publisher < 0 ? $"s{index}" : $"p{publisher}";
            var room = (publisher < 0 ? index : publisher) % Settings.Rooms;
            BenchConnection? connection = null;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
                timeout.CancelAfter(Settings.ConnectTimeout);
                connection = await OpenAsync(index, timeout.Token).ConfigureAwait(false);
                var member = new ChatMember(connection, room, publisher);
                await member.SendAsync(Encoding.ASCII.GetBytes($"NICK {nick}\nJOIN room{room}\n"), timeout.Token).ConfigureAwait(false);
                await member.ExpectAsync($"OK JOIN room{room}", timeout.Token).ConfigureAwait(false);
                _members[index] = member;
                Interlocked.Increment(ref _roomMembers[room]);
                CountOpened();
            }
            catch (Exception ex) when (IsConnectionFailure(ex) || ex is OperationCanceledException && !token.IsCancellationRequested)
            {
                connection?.Dispose();
                CountConnectFailure();
            }
        });
    }

    public override Task RunAsync()
    {
        var start = Stopwatch.GetTimestamp();
        var receivers = new List<Task>(_members.Length);
        var senders = new List<Task>(Settings.Publishers);
        foreach (var member in _members)
        {
            if (member is null)
            {
                continue;
            }

            receivers.Add(Task.Run(() => ReceiveLoopAsync(member)));
            if (member.Publisher >= 0)
            {
                senders.Add(Task.Run(() => PublishLoopAsync(member, start)));
            }
        }

        return StopAsync(senders, receivers);
    }

    /// <summary>After the window: waits for the window's deliveries, then closes every connection so the
    /// receive loops end (and a publisher stuck in a send to a server that stopped reading too).</summary>
    private async Task StopAsync(List<Task> senders, List<Task> receivers)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, StopToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        var drainStart = Stopwatch.GetTimestamp();
        var lastDelivered = -1L;
        var lastProgress = drainStart;
        while (Stopwatch.GetElapsedTime(drainStart) < DrainLimit && Stopwatch.GetElapsedTime(lastProgress) < DrainQuiet)
        {
            var delivered = Delivered();
            if (delivered >= ExpectedDeliveries() && senders.TrueForAll(t => t.IsCompleted))
            {
                break;
            }

            if (delivered != lastDelivered)
            {
                lastDelivered = delivered;
                lastProgress = Stopwatch.GetTimestamp();
            }

            await Task.Delay(10).ConfigureAwait(false);
        }

        _closing = true;
        foreach (var member in _members)
        {
            member?.Dispose();
        }

        await Task.WhenAll(senders.Concat(receivers)).ConfigureAwait(false);
    }

    private async Task PublishLoopAsync(ChatMember member, long start)
    {
        var j = member.Publisher;
        var prefix = Encoding.ASCII.GetBytes($"MSG room{member.Room} ");
        var lineBytes = prefix.Length + Math.Max(Settings.Size, 40) + 1; // seq and stamp: at most 19 digits each
        var batch = new byte[lineBytes * MaxBatch];
        var interval = Stopwatch.Frequency / Settings.Rate;
        // Publishers staggered over one interval so they do not fire together.
        var first = start + (long)(interval * j / Settings.Publishers);
        long sequence = 0;
        try
        {
            while (!Stopping)
            {
                var due = first + (long)(interval * sequence);
                var wait = due - Stopwatch.GetTimestamp();
                if (wait > 0)
                {
                    await Task.Delay(TimeSpan.FromSeconds((double)wait / Stopwatch.Frequency), StopToken).ConfigureAwait(false);
                }

                var now = Stopwatch.GetTimestamp();
                var length = 0;
                for (var n = 0; n < MaxBatch && (n == 0 || first + (long)(interval * sequence) <= now); n++)
                {
                    if (_windowOpen && _firstMeasured[j] == long.MaxValue)
                    {
                        Volatile.Write(ref _firstMeasured[j], sequence);
                    }

                    length += WriteMessage(batch.AsSpan(length), prefix, sequence, first + (long)(interval * sequence));
                    sequence++;
                }

                // Counted before the send: a member may parse the delivery before the send returns.
                Volatile.Write(ref _lastSent[j], sequence - 1);
                await member.SendAsync(batch.AsMemory(0, length), CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex) when (IsConnectionFailure(ex))
        {
            // The receive loop counts the lost connection (a send cut short by the close at the end is not
            // one); messages counted under _lastSent that never left show as lost deliveries.
        }
    }

    /// <summary>Writes <c>MSG room&lt;r&gt; &lt;seq&gt; &lt;stamp&gt; &lt;padding&gt;\n</c>, the text padded with
    /// 'x' to <see cref="BenchSettings.Size"/> bytes (longer when the numbers alone are longer).</summary>
    private int WriteMessage(Span<byte> into, byte[] prefix, long sequence, long stamp)
    {
        prefix.CopyTo(into);
        var at = prefix.Length;
        Utf8Formatter.TryFormat(sequence, into[at..], out var written);
        at += written;
        into[at++] = (byte)' ';
        Utf8Formatter.TryFormat(stamp, into[at..], out written);
        at += written;
        var text = at - prefix.Length;
        if (text < Settings.Size)
        {
            into[at++] = (byte)' ';
            text++;
            while (text < Settings.Size)
            {
                into[at++] = (byte)'x';
                text++;
            }
        }

        into[at++] = (byte)'\n';
        return at;
    }

    private async Task ReceiveLoopAsync(ChatMember member)
    {
        try
        {
            while (true)
            {
                var now = Stopwatch.GetTimestamp();
                int lines = 0;
                long measured = 0;
                while (member.TryTakeLine(out var line))
                {
                    lines++;
                    if (ChatMember.TryParseDelivery(line, out var publisher, out var sequence, out var stamp)
                        && (uint)publisher < (uint)_firstMeasured.Length)
                    {
                        if (sequence >= Volatile.Read(ref _firstMeasured[publisher]))
                        {
                            measured++;
                            RecordLatencyAnyTime(Nanoseconds(stamp, now), 1);
                        }
                    }
                    else if (line.StartsWith("ERR "u8))
                    {
                        CountError();
                    }
                    else if (!line.StartsWith("OK "u8))
                    {
                        CountMismatch();
                    }
                }

                if (measured > 0)
                {
                    member.CountDelivered(measured);
                }

                if (lines > 0)
                {
                    CountOperations(lines);
                }

                if (await member.ReceiveAsync(CancellationToken.None).ConfigureAwait(false) == 0)
                {
                    CountDisconnected(member);
                    return;
                }
            }
        }
        catch (Exception ex) when (IsConnectionFailure(ex))
        {
            CountDisconnected(member);
        }
        finally
        {
            CountClosed();
        }
    }

    private void CountDisconnected(ChatMember member)
    {
        if (_closing)
        {
            return; // This run closed it.
        }

        if (member.Publisher < 0)
        {
            Interlocked.Increment(ref _disconnectedSubscribers);
        }
        else
        {
            Interlocked.Increment(ref _disconnectedPublishers);
            CountError();
        }
    }

    /// <summary>Deliveries of measured messages received so far, by every member.</summary>
    private long Delivered()
    {
        long total = 0;
        foreach (var member in _members)
        {
            total += member?.Delivered ?? 0;
        }

        return total;
    }

    /// <summary>Measured messages sent, per publisher.</summary>
    private long MeasuredMessages(int publisher)
    {
        var first = Volatile.Read(ref _firstMeasured[publisher]);
        return first == long.MaxValue ? 0 : Math.Max(0, Volatile.Read(ref _lastSent[publisher]) - first + 1);
    }

    /// <summary>Each measured message goes to every other member of its room.</summary>
    private long ExpectedDeliveries()
    {
        long total = 0;
        foreach (var member in _members)
        {
            if (member is { Publisher: >= 0 } publisher)
            {
                total += MeasuredMessages(publisher.Publisher) * (_roomMembers[publisher.Room] - 1);
            }
        }

        return total;
    }

    public override void BeginMeasurement()
    {
        base.BeginMeasurement();
        _windowOpen = true;
    }

    public override void Complete() => TakeLateLatencies();

    public override BenchResult Result()
    {
        long messages = 0;
        foreach (var member in _members)
        {
            if (member is { Publisher: >= 0 } publisher)
            {
                messages += MeasuredMessages(publisher.Publisher);
            }
        }

        var expected = ExpectedDeliveries();
        var delivered = Delivered();
        return base.Result() with
        {
            Operations = delivered,
            Subscribers = Settings.Subscribers,
            Rooms = Settings.Rooms,
            Publishers = Settings.Publishers,
            Messages = messages,
            ExpectedDeliveries = expected,
            LostDeliveries = Math.Max(0, expected - delivered),
            DisconnectedSubscribers = Interlocked.Read(ref _disconnectedSubscribers),
            DisconnectedPublishers = Interlocked.Read(ref _disconnectedPublishers),
        };
    }

    public override async ValueTask DisposeAsync()
    {
        _closing = true;
        foreach (var member in _members)
        {
            member?.Dispose();
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }
}
