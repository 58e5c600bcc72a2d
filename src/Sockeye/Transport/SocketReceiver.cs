using System.Net.Sockets;

namespace Sockeye.Transport;

/// <summary>
/// The reader's one socket operation object with .NET's engine, reused for every zero-byte wait and
/// data receive of the connection. Owning it (rather than calling <c>Socket.ReceiveAsync(Memory)</c>)
/// lets its completion call the reader directly, with no delegate and no awaiter per connection.
/// </summary>
internal sealed class SocketReceiver(SocketReader reader) : SocketAsyncEventArgs(unsafeSuppressExecutionContextFlow: true)
{
    protected override void OnCompleted(SocketAsyncEventArgs e) => reader.OnOperationCompleted();
}
