namespace Sockeye;

/// <summary>
/// Thrown from a read or flush on a <see cref="Connection"/> that was closed under it: aborted by the
/// handler, by the server (for example at the end of a drain), or lost because the peer reset it.
/// </summary>
/// <remarks>Not called <c>ConnectionAbortedException</c>: that name (and <c>ConnectionResetException</c>)
/// belongs to ASP.NET Core's <c>Microsoft.AspNetCore.Connections</c>, and an application using both
/// would have to qualify every use. A peer that closes gracefully (FIN) is not an error: the read
/// returns <c>IsCompleted</c>.</remarks>
public class ConnectionClosedException : IOException
{
    /// <summary>Creates the exception with a default message.</summary>
    public ConnectionClosedException()
        : base("The connection was closed.")
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/> saying why the connection ended.</summary>
    public ConnectionClosedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public ConnectionClosedException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
