using System.Buffers.Binary;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sockeye.Fanout;
using StackExchange.Redis;

namespace Sockeye.Redis;

/// <summary>
/// A backplane through Redis pub/sub (StackExchange.Redis): every instance publishes its broadcasts to
/// one channel (<see cref="RedisBackplaneOptions.Channel"/>) and subscribes to it, so one
/// <c>PUBLISH</c> per broadcast reaches every instance, whatever the number of recipients.
/// </summary>
/// <remarks>
/// <para>The envelope, one Redis message per broadcast:</para>
/// <code>
/// +---------+----------------+-------------+------------------+-----------------+
/// | 0x01    | origin (16 B)  | n (u16, BE) | group (n B UTF-8)| payload         |
/// +---------+----------------+-------------+------------------+-----------------+
/// </code>
/// <para>One channel for every group, not one per group: there is nothing to subscribe or unsubscribe
/// as rooms come and go (joins stay local), at the price that every instance receives every group's
/// messages, also for groups it has no members of. That suits a load balancer that spreads every
/// group over every instance; groups pinned to a few of many instances would want a channel each.</para>
/// <para>At-most-once, like Redis pub/sub itself: while the connection is down a publish is refused at
/// once (nothing is queued to be sent late: StackExchange.Redis's <see cref="BacklogPolicy.FailFast"/>),
/// and what is said elsewhere meanwhile does not reach this instance. The connection is re-established
/// by StackExchange.Redis in the background (backing off up to
/// <see cref="RedisBackplaneOptions.MaxReconnectDelay"/>), which also subscribes again. Received
/// messages are handed on one at a time in the order Redis delivered them (a
/// <see cref="ChannelMessageQueue"/>), so one publisher's lines stay in order.</para>
/// </remarks>
public sealed partial class RedisGroupBackplane : IGroupBackplane
{
    private const byte Version = 1;
    private const int HeaderLength = 1 + 16 + 2;

    private readonly RedisBackplaneOptions _options;
    private readonly ILogger _logger;
    private readonly RedisChannel _channel;
    private readonly CancellationTokenSource _stopping = new();
    private ConnectionMultiplexer? _redis;
    private ChannelMessageQueue? _queue;
    private Action<BackplaneMessage>? _receive;
    private Task _subscribing = Task.CompletedTask;
    private int _failed;
    private int _reported = (int)BackplaneState.Connecting;

    /// <summary>A backplane that connects as <paramref name="options"/> say once started.</summary>
    /// <param name="options">The server and the channel.</param>
    /// <param name="loggerFactory">Where the connection's loss and return are logged (events 1510, 1511).</param>
    public RedisGroupBackplane(RedisBackplaneOptions options, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Sockeye.Redis.Backplane");
        _channel = RedisChannel.Literal(options.Channel);
    }

    /// <inheritdoc/>
    public string Name => "redis";

    /// <inheritdoc/>
    public BackplaneState State =>
        Volatile.Read(ref _queue) is not null && _redis is { IsConnected: true } ? BackplaneState.Connected
        : Volatile.Read(ref _failed) != 0 ? BackplaneState.Disconnected
        : BackplaneState.Connecting;

    /// <inheritdoc/>
    public async Task StartAsync(Action<BackplaneMessage> receive, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(receive);
        if (Interlocked.CompareExchange(ref _receive, receive, null) is not null)
        {
            throw new InvalidOperationException("the backplane was started already");
        }

        var configuration = new ConfigurationOptions
        {
            EndPoints = { _options.EndPoint },
            User = _options.User,
            Password = _options.Password,
            ClientName = "sockeye-backplane",

            // Start even while Redis is down, and keep trying: an instance serves its own members without it.
            AbortOnConnectFail = false,
            ConnectTimeout = (int)_options.ConnectTimeout.TotalMilliseconds,
            ConnectRetry = 1,
            ReconnectRetryPolicy = new ExponentialRetry(100, (int)_options.MaxReconnectDelay.TotalMilliseconds),

            // At-most-once: a publish while disconnected fails now instead of waiting in a backlog to be sent
            // late, out of order with what local members already saw.
            BacklogPolicy = BacklogPolicy.FailFast,
            KeepAlive = 5,
        };
        var redis = await ConnectionMultiplexer.ConnectAsync(configuration).WaitAsync(cancellationToken).ConfigureAwait(false);
        redis.ConnectionFailed += OnConnectionFailed;
        redis.ConnectionRestored += OnConnectionRestored;
        _redis = redis;
        // Subscribed once: StackExchange.Redis subscribes again by itself after every reconnect. Until the
        // first connection, retried in the background.
        _subscribing = SubscribeAsync(redis, _stopping.Token);
        if (redis.IsConnected)
        {
            // Connected: the subscription is one round trip away, so the first broadcasts can cross.
            await Task.WhenAny(_subscribing, Task.Delay(_options.ConnectTimeout, cancellationToken)).ConfigureAwait(false);
        }
        else
        {
            // The first attempt took its timeout already: start without it; the log says it is down.
            Interlocked.Exchange(ref _failed, 1);
        }

        Report();
    }

    /// <inheritdoc/>
    public ValueTask<bool> PublishAsync(BackplaneMessage message)
    {
        if (_redis is not { IsConnected: true } redis || Volatile.Read(ref _queue) is null)
        {
            return ValueTask.FromResult(false);
        }

        var envelope = Encode(message);
        Task<long> publish;
        try
        {
            publish = redis.GetSubscriber().PublishAsync(_channel, envelope);
        }
        catch (Exception ex) when (IsOutage(ex))
        {
            return ValueTask.FromResult(false);
        }

        return AwaitPublishAsync(publish);
    }

    /// <summary>Closes the connection (what is in flight is abandoned) and stops trying.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _subscribing.ConfigureAwait(false);
        if (_redis is { } redis)
        {
            redis.ConnectionFailed -= OnConnectionFailed;
            redis.ConnectionRestored -= OnConnectionRestored;
            await redis.CloseAsync(allowCommandsToComplete: false).ConfigureAwait(false);
            await redis.DisposeAsync().ConfigureAwait(false);
        }

        _stopping.Dispose();
    }

    /// <summary>The message as it travels (see the remarks' diagram).</summary>
    internal static byte[] Encode(BackplaneMessage message)
    {
        var groupLength = Encoding.UTF8.GetByteCount(message.Group);
        if (groupLength > ushort.MaxValue)
        {
            throw new ArgumentException($"group name of {groupLength} bytes exceeds the backplane's limit of {ushort.MaxValue}", nameof(message));
        }

        var envelope = GC.AllocateUninitializedArray<byte>(HeaderLength + groupLength + message.Payload.Length);
        envelope[0] = Version;
        message.Origin.TryWriteBytes(envelope.AsSpan(1, 16));
        BinaryPrimitives.WriteUInt16BigEndian(envelope.AsSpan(17, 2), (ushort)groupLength);
        Encoding.UTF8.GetBytes(message.Group, envelope.AsSpan(HeaderLength, groupLength));
        message.Payload.Span.CopyTo(envelope.AsSpan(HeaderLength + groupLength));
        return envelope;
    }

    /// <summary>Reads an envelope; false for one this version does not understand (another version, or not ours).</summary>
    internal static bool TryDecode(ReadOnlyMemory<byte> envelope, out BackplaneMessage message)
    {
        message = default;
        var span = envelope.Span;
        if (span.Length < HeaderLength || span[0] != Version)
        {
            return false;
        }

        var groupLength = BinaryPrimitives.ReadUInt16BigEndian(span.Slice(17, 2));
        if (span.Length < HeaderLength + groupLength)
        {
            return false;
        }

        message = new BackplaneMessage(
            new Guid(span.Slice(1, 16)),
            Encoding.UTF8.GetString(span.Slice(HeaderLength, groupLength)),
            envelope[(HeaderLength + groupLength)..]);
        return true;
    }

    private async Task SubscribeAsync(ConnectionMultiplexer redis, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            if (redis.IsConnected)
            {
                try
                {
                    var queue = await redis.GetSubscriber().SubscribeAsync(_channel).ConfigureAwait(false);
                    queue.OnMessage(OnMessage);
                    Volatile.Write(ref _queue, queue);
                    Report();
                    return;
                }
                catch (Exception ex) when (IsOutage(ex))
                {
                    // Lost again before the subscription was confirmed: the next connection gets another try.
                    await redis.GetSubscriber().UnsubscribeAsync(_channel, null, CommandFlags.FireAndForget).ConfigureAwait(false);
                }
            }

            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void OnMessage(ChannelMessage message)
    {
        if (TryDecode((ReadOnlyMemory<byte>)message.Message, out var decoded))
        {
            _receive!(decoded);
        }
        else
        {
            LogUnreadable(_logger, _options.Channel);
        }
    }

    private static async ValueTask<bool> AwaitPublishAsync(Task<long> publish)
    {
        try
        {
            await publish.ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (IsOutage(ex))
        {
            return false;
        }
    }

    private static bool IsOutage(Exception ex) => ex is RedisException or TimeoutException or ObjectDisposedException or OperationCanceledException;

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        Interlocked.Exchange(ref _failed, 1);
        Report(e.FailureType.ToString());
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e) => Report();

    /// <summary>Logs a change of <see cref="State"/> once, however many of StackExchange.Redis's
    /// connections (interactive, subscription) report it.</summary>
    private void Report(string? failure = null)
    {
        var state = State;
        if (Interlocked.Exchange(ref _reported, (int)state) == (int)state)
        {
            return;
        }

        if (state == BackplaneState.Connected)
        {
            LogConnected(_logger, _options.EndPoint, _options.Channel);
        }
        else if (state == BackplaneState.Disconnected)
        {
            LogDisconnected(_logger, _options.EndPoint, failure ?? "not connected");
        }
    }

    [LoggerMessage(1510, LogLevel.Warning, "Backplane redis at {EndPoint} is down ({Failure}): local delivery goes on, broadcasts to other instances are lost (counted) until it is back; reconnecting")]
    private static partial void LogDisconnected(ILogger logger, string endPoint, string failure);

    [LoggerMessage(1511, LogLevel.Information, "Backplane redis at {EndPoint} connected, channel {Channel}")]
    private static partial void LogConnected(ILogger logger, string endPoint, string channel);

    [LoggerMessage(1512, LogLevel.Warning, "Backplane redis: a message on channel {Channel} is not a Sockeye envelope of this version; dropped")]
    private static partial void LogUnreadable(ILogger logger, string channel);
}
