using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;

namespace Sockeye.Cli.Observability;

/// <summary>
/// One admin-port connection as Kestrel sees it: the pipes, addresses, close token and abort of a
/// Sockeye <see cref="Connection"/>. Kestrel disposes it when it is done with the connection, which
/// lets the Sockeye handler return (<see cref="Done"/>) and the server close the socket and free its slot.
/// </summary>
internal sealed class AdminConnectionContext : ConnectionContext, IDuplexPipe
{
    private readonly Connection _connection;
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Wraps <paramref name="connection"/>, which stays open until <see cref="DisposeAsync"/>.</summary>
    public AdminConnectionContext(Connection connection)
    {
        _connection = connection;
        ConnectionId = "admin-" + connection.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Transport = this;
    }

    /// <summary>Completes when Kestrel has disposed the connection, or when it was never handed to Kestrel
    /// (<see cref="Release"/>): the Sockeye handler then returns.</summary>
    public Task Done => _done.Task;

    public override string ConnectionId { get; set; }

    public override IFeatureCollection Features { get; } = new FeatureCollection();

    public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();

    public override IDuplexPipe Transport { get; set; }

    PipeReader IDuplexPipe.Input => _connection.Input;

    PipeWriter IDuplexPipe.Output => _connection.Output;

    public override CancellationToken ConnectionClosed
    {
        get => _connection.ConnectionClosed;
        set => throw new NotSupportedException("the admin connection's close token is the Sockeye connection's");
    }

    public override EndPoint? LocalEndPoint
    {
        get => _connection.LocalEndPoint;
        set => throw new NotSupportedException("the admin connection's addresses are the socket's");
    }

    public override EndPoint? RemoteEndPoint
    {
        get => _connection.RemoteEndPoint;
        set => throw new NotSupportedException("the admin connection's addresses are the socket's");
    }

    // Kestrel passes null when its side of an ordinary close aborts the output.
    public override void Abort(ConnectionAbortedException abortReason) =>
        _connection.Abort(abortReason?.Message ?? "closed by the admin endpoint");

    /// <summary>Lets go of a connection Kestrel never accepted (the endpoint is stopping): it is aborted.</summary>
    public void Release()
    {
        _connection.Abort("the admin endpoint is stopping");
        _done.TrySetResult();
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync().ConfigureAwait(false);
        _done.TrySetResult();
    }
}
